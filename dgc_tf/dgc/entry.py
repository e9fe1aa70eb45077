"""One DGC run for ``run.py`` (on ``shared_data.skeleton``): the run folder, the split, training, the result.

The inputs are checked before TensorFlow is imported and before a run folder is made: the output folder can be
written, the split loads and fits the config. A run folder that already holds the same config is resumed from its
last checkpoint, or, once finished, only reported. The result record is returned; the skeleton writes it.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from shared_data import records, skeleton, splits

from .config import ConfigError, check_split

NAME = "dgc"  # the method's folder under --out and its name in the records


def check_writable_folder(path: str, flag: str) -> None:
    """Refuse, before anything is written, an output folder that cannot be made: under a file, or in a folder
    this user cannot write to. Nothing is created here."""
    p = Path(path).absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    if not p.is_dir():
        raise ConfigError(f"{flag} {path}: {p} is a file, not a folder; pass another {flag}")
    if not os.access(p, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag} {path}: {p} is not writable; make it writable or pass another {flag}")


def run(args, cfg: dict, identity: dict, variant, split_seed: int, seed: int, paper_method: str) -> skeleton.Outcome:
    """Train and evaluate one (split seed, seed) pair. ``identity`` is the run folder's config.json (``cfg`` with
    the run's seeds, protocol and variant name); ``variant`` the ``shared_data.variants.Variant`` it names."""
    t0 = time.time()
    name = records.run_name(args.dataset, args.protocol, split_seed, seed, args.budget, variant=variant.name)
    check_writable_folder(args.out, "--out")
    run_dir = None
    if (Path(args.out) / NAME / name / "config.json").exists():  # an earlier attempt: same config? finished?
        run_dir = records.RunDir.create(args.out, NAME, name, identity)
        if run_dir.is_complete():
            return skeleton.Outcome(run_dir, run_dir.read_result(), new=False)
    split = splits.get_split(args.dataset, args.protocol, split_seed, imbalance=args.imbalance, ir=args.ir,
                             data_root=args.data_root, mirrors=args.mirror,
                             test_per_class=cfg["test_subset_per_class"])
    check_split(cfg, split)
    if run_dir is None:  # the folder is made only once the inputs are known to be good
        run_dir = records.RunDir.create(args.out, NAME, name, identity)
    print(f"{run_dir.path}: {args.dataset} {split.split_id} counts {split.train_counts}, {len(split.y_test)} test "
          f"images, budget {args.budget}, variant {variant.name}", flush=True)

    from . import train  # TensorFlow is imported only once the inputs are known to be good

    trainer = train.Trainer(cfg, split, run_dir, seed, progress=not args.no_progress)
    try:
        done = trainer.fit(stop_after=args.stop_after)
        rec = train.report_record(run_dir, cfg["report_epoch"])
        device = train.device()
    finally:
        trainer.close()

    epoch = int(rec["epoch"])
    preds = train.read_predictions(run_dir, epoch)
    run_dir.save_predictions(**preds)
    m, d = train.evaluation_metrics(preds, split.train_counts)
    result = records.make_result(
        method=NAME, framework=train.framework(), split=split, seed=seed, budget=args.budget, device=device,
        wall_time_s=done["wall_time_s"], metrics=m, config=identity, variant=variant, paper_method=paper_method,
        extra={"prediction_rule": "generative Bayes rule (the original's dgc.py L64-90); metrics.* are its "
                                  "metrics, extra.discriminative those of argmax p(y|z)",
               "discriminative": d, "report_epoch": epoch, "sampling_size": cfg["sampling_size"]})
    train.per_class_plot(run_dir, epoch, m, d)
    print(f"result (epoch {epoch}, {len(preds['y_true'])} test images): ACSA {m['acsa']:.4f} Fmacro "
          f"{m['fmacro']:.4f} Gmacro {m['gmacro_dgc']:.4f} RMI {m['rmi']:.4f} PMA {m['pma']:.4f} | p(y|z): ACSA "
          f"{d['acsa']:.4f} Fmacro {d['fmacro']:.4f} Gmacro {d['gmacro_dgc']:.4f} [{time.time() - t0:.0f} s this "
          f"call]", flush=True)
    return skeleton.Outcome(run_dir, result, new=True, note=f"epoch {epoch}")

