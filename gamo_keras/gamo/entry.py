"""One GAMO run for ``run.py`` (on ``shared_data.skeleton``): the split, the run folder, then the GAMO stage
(train and score, resuming from the last checkpoint) or the GAMO2pix stage on a finished GAMO run.

The GAMO stage returns its new result record (the skeleton writes it); a run folder that already holds a result
returns that result, marked as finished earlier. Keras is imported only here, once the config has been resolved
and checked (``run.py``'s ``configure``).
"""
from __future__ import annotations

import os
from pathlib import Path

from shared_data import quiet, records, skeleton, splits

from . import config

NAME = "gamo"  # the method's folder under --out and its name in the records
# config.json keys that may differ between attempts of one run: port settings that never change the maths
PORT_KEYS = ("xla", "expected_runtime", "description", "keras_backend")


def framework() -> str:
    """e.g. 'tensorflow 2.21.0 (keras 3.15.1, tensorflow backend)'."""
    import keras

    from . import backend

    b = backend.name()
    return f"{records.framework_version(b)} (keras {keras.__version__}, {b} backend)"


def run(args, cfg: dict, split_seed: int, seed: int, *, variant, paper_method: str | None,
        gamo2pix_folder: str) -> skeleton.Outcome:
    """One (split seed, seed) pair of ``run.py``'s command. ``cfg`` is the resolved config; ``variant`` the
    ``shared_data.variants.Variant`` naming the run folder; ``gamo2pix_folder`` the GAMO2pix stage's subfolder
    (named by that stage's own variant)."""
    with quiet.framework_import():  # Keras and its backend load here; on a CPU machine without the CUDA probe's notices
        from . import backend, pipeline

    backend.check()
    gcfg = config.of(cfg)
    config.check_stage(gcfg, args.stage)
    split = splits.get_split(args.dataset, args.protocol, split_seed, imbalance=args.imbalance, ir=args.ir,
                             data_root=args.data_root, mirrors=args.mirror)
    identity = dict(cfg, protocol=args.protocol, split_seed=split_seed, seed=seed, imbalance=args.imbalance,
                    ir=args.ir, split_id=split.split_id, split_hash=split.split_hash,
                    keras_backend=os.environ.get("KERAS_BACKEND", "tensorflow"))
    name = records.run_name(args.dataset, args.protocol, split_seed, seed, args.budget, variant=variant.name,
                            tag=args.tag)
    # GAMO2pix settings may differ between the GAMO stage and the GAMO2pix stage of one run (each combination
    # gets its own subfolder, named by its variant)
    gamo2pix_keys = tuple(k for k in identity if k.startswith("gamo2pix")) + ("vae_logvar_consistent",)
    run_dir = records.RunDir.create(args.out, method=NAME, name=name, config=identity,
                                    ignore_keys=PORT_KEYS + gamo2pix_keys)
    if args.stage == "gamo2pix":
        written = pipeline.gamo2pix_stage(gcfg, split, run_dir, seed, Path(run_dir.path) / gamo2pix_folder,
                                          progress=not args.no_progress)
        return skeleton.Outcome(run_dir, run_dir.read_result(), new=False, note=f"GAMO2pix: {', '.join(written)}")
    if run_dir.is_complete():
        return skeleton.Outcome(run_dir, run_dir.read_result(), new=False)  # delete result.json to train again
    result, note = pipeline.train_and_score(
        gcfg, split, run_dir, seed, progress=not args.no_progress, stop_after=args.stop_after, variant=variant,
        paper_method=paper_method, device=records.describe_device(backend.gpu_names()), framework=framework())
    return skeleton.Outcome(run_dir, result, new=True, note=note)
