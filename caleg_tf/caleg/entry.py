"""One CaLeG run as ``shared_data.skeleton`` asks for it: the split, the run folder, the trainer, the outcome.

run.py resolves the config and names the variant (from the folder's ``configs`` and ``fixes``); this module
takes them as values.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from shared_data import records, skeleton, splits

METHOD = "caleg"  # the run folders' parent under --out, and the results' method name


def run(args, cfg: dict, split_seed: int, seed: int, *, variant, paper_method: str | None) -> skeleton.Outcome:
    """Train (or resume) the run of one (split seed, seed) pair; a run finished earlier gives its stored result.
    Everything that can be refused is checked before the run folder exists (split loaded, config resolved, the
    trainer's own checks), so a refused run leaves no folder behind."""
    from .train import Trainer  # TensorFlow: imported once every command line of the call is checked

    split = splits.get_split(args.dataset, args.protocol, split_seed, imbalance=args.imbalance, ir=args.ir,
                             data_root=args.data_root, mirrors=args.mirror, test_per_class=cfg["test_per_class"])
    name = records.run_name(args.dataset, args.protocol, split_seed, seed, args.budget, variant=variant.name,
                            tag="balanced" if args.imbalance == 0 else None)
    run_cfg = dict(cfg, protocol=args.protocol, imbalance=args.imbalance, ir=args.ir, split_seed=split_seed,
                   seed=seed, split_id=split.split_id, split_hash=split.split_hash)
    trainer = Trainer(cfg, split, None, seed, progress=not args.no_progress, stop_after_epoch=args.stop_after,
                      variant=variant, paper_method=paper_method)
    fresh = not (Path(args.out) / METHOD / name).exists()
    folder = trainer.run = records.RunDir.create(args.out, METHOD, name, run_cfg)
    if folder.is_complete():
        result = folder.read_result()
        return skeleton.Outcome(folder, result, new=False, note=_note(result))
    try:
        result = trainer.train()
    except BaseException:
        if fresh and not trainer.started:  # failed before training began: nothing worth keeping
            shutil.rmtree(folder.path, ignore_errors=True)
        raise
    return skeleton.Outcome(folder, result, new=True, note=_note(result))


def _note(result: dict) -> str:
    return f"epoch {result.get('extra', {}).get('reported_epoch')}"
