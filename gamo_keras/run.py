"""GAMO: Generative Adversarial Minority Oversampling (Mullick, Datta, Das, ICCV 2019), faithful Keras 3 port.

    python run.py --dataset fashion --protocol gamo --split-seed 0 --budget full     # make reproduce-gamo-fmnist
    python run.py --dataset mnist --model baseline                                   # classifier M alone
    python run.py --dataset fashion --stage gamo2pix                                 # after the GAMO run

Re-running the same command resumes from the last checkpoint; a finished run prints its result. Every
deviation from the released code is an opt-in flag declared in fixes.py (README.md lists them).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import gamo  # noqa: E402,F401  (sets KERAS_BACKEND / TF log level before Keras is imported)
from shared_data import cli, paths, variants  # noqa: E402

from fixes import FIXES, paper_method_of, variant_of  # noqa: E402

DATASETS = ("mnist", "fashion", "cifar10", "svhn")


class OneLineParser(argparse.ArgumentParser):
    """Bad command lines end with one line on stderr (and exit code 2), not the usage block."""

    def error(self, message):
        self.exit(2, f"error: {message} (python run.py --help lists the flags)\n")


def plain_name(value: str) -> str:
    """argparse type of a value that becomes part of a folder name: a plain name, no path."""
    try:
        return paths.safe_name(value, "value")
    except paths.UnsafePathError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_common_args(p, datasets=DATASETS, default_protocol="gamo", default_split_seed=0)
    g = p.add_argument_group("GAMO")
    g.add_argument("--model", choices=("gamo", "baseline"), default="gamo",
                   help="gamo: the three-player game; baseline: classifier M alone, same optimiser, batches and "
                        "evaluation, 50,000 batch steps (the original's deleted dense_mlp_main.py)")
    g.add_argument("--stage", choices=("gamo", "gamo2pix"), default="gamo",
                   help="gamo: train and score (default); gamo2pix: per-class decoders from generated features "
                        "to images for a finished conv-variant run (Fashion-MNIST), and its sample grid")
    g.add_argument("--max-step", type=cli.positive_int, default=None,
                   help="override the budget's max_step (GAMO counts 2 steps per iteration: 50000 = 25,000 its)")
    g.add_argument("--eval-every", type=cli.positive_int, default=None, help="evaluation period in steps (default 500)")
    g.add_argument("--save-every", type=cli.positive_int, default=None,
                   help="checkpoint period in steps (default 5000)")
    g.add_argument("--gamo2pix-steps", type=cli.positive_int, default=None, help="GAMO2pix steps per minority class")
    variants.add_arguments(p, FIXES, title="opt-in corrections (default: the released code, see fixes.py)")
    o = p.add_argument_group("port settings (no effect on the maths)")
    o.add_argument("--no-xla", dest="xla", action="store_false", default=None,
                   help="compile the game without XLA (TensorFlow backend; about 3x slower on CPU)")
    o.add_argument("--no-progress", action="store_true", help="no progress bar")
    o.add_argument("--stop-after", type=cli.positive_int, default=None,
                   help="stop after the first checkpoint at or past this many iterations (resume later)")
    o.add_argument("--tag", type=plain_name, default=None,
                   help="suffix of the run folder name (letters, digits, '.', '_', '+', '-')")
    return p


def resolve(args):
    from gamo import config

    overrides = dict(model=args.model, max_step=args.max_step, eval_every_steps=args.eval_every,
                     save_every_steps=args.save_every, gamo2pix_steps=args.gamo2pix_steps, xla=args.xla,
                     **variants.values(args, FIXES))
    # the baseline keeps max_step and counts one step per iteration: 50,000 M updates, as in GAMO
    return config.load(args.dataset, args.budget, **overrides)


def describe_device() -> str:
    from gamo import backend
    from shared_data import records

    return records.describe_device(backend.gpu_names())


def framework() -> str:
    """e.g. 'tensorflow 2.21.0 (keras 3.15.1, tensorflow backend)'."""
    import keras

    from gamo import backend
    from shared_data import records

    b = backend.name()
    return f"{records.framework_version(b)} (keras {keras.__version__}, {b} backend)"


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    cli.sigterm_as_interrupt()  # a scheduler's stop ends like Ctrl-C: one line saying how to resume
    try:
        return _main(args)
    except KeyboardInterrupt:
        print("interrupted: re-run the same command to resume from the last checkpoint", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001
        from shared_data.fetch import DataError
        from shared_data.protocols import SplitError
        from shared_data.records import RunError

        from gamo.data import GamoDataError

        if isinstance(exc, (DataError, SplitError, RunError, GamoDataError, ValueError)) or \
                (isinstance(exc, RuntimeError) and "checkpoint" in str(exc)):
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if isinstance(exc, OSError):  # a folder that is missing, not writable, or under a file
            print(cli.os_error_line(exc), file=sys.stderr)
            return 2
        raise


def _main(args) -> int:
    from shared_data import records, splits

    cfg = resolve(args)  # bad values fail here, before the framework starts (gamo.backend imports Keras)

    from gamo import backend

    backend.check()
    if cfg.model == "baseline" and args.stage == "gamo2pix":
        raise ValueError("--stage gamo2pix needs a GAMO run, not --model baseline")
    split = splits.get_split(args.dataset, args.protocol, args.split_seed, imbalance=args.imbalance, ir=args.ir,
                             data_root=args.data_root, mirrors=args.mirror)
    run_cfg = dict(cfg.to_dict(), protocol=args.protocol, split_seed=args.split_seed, seed=args.seed,
                   imbalance=args.imbalance, ir=args.ir, split_id=split.split_id, split_hash=split.split_hash,
                   keras_backend=os.environ.get("KERAS_BACKEND", "tensorflow"))
    variant = variant_of(run_cfg)  # the GAMO stage's variant: names the run folder
    name = records.run_name(args.dataset, args.protocol, args.split_seed, args.seed, args.budget,
                            variant=variant.name, tag=args.tag)
    # GAMO2pix settings may differ between the GAMO stage and the GAMO2pix stage of one run (each combination
    # gets its own subfolder, named by fixes.gamo2pix_variant); port settings never change the maths
    gamo2pix_keys = tuple(k for k in run_cfg if k.startswith("gamo2pix")) + ("vae_logvar_consistent",)
    run = records.RunDir.create(args.out, method="gamo", name=name, config=run_cfg,
                                ignore_keys=("xla", "expected_runtime", "description", "keras_backend") + gamo2pix_keys)
    from gamo import pipeline

    if args.stage == "gamo2pix":
        rc = pipeline.gamo2pix_stage(cfg, split, run, args)
        if args.publish:
            print("GAMO2pix writes pictures only: nothing to publish")
        return rc
    if run.is_complete():
        m = run.read_result()["metrics"]
        print(f"{run.path}: finished earlier (ACSA {m['acsa']:.4f}, GM {m['gm_gamo']:.4f}, accuracy "
              f"{m['accuracy']:.4f}); delete result.json to train again")
    else:
        rc = pipeline.train_and_score(cfg, split, run, args, variant=variant,
                                      paper_method=paper_method_of(run_cfg), device=describe_device(),
                                      framework=framework())
        if rc or not run.is_complete():
            return rc
    if args.publish:
        print(f"published {records.publish(run.path, args.publish, allow_dirty=args.allow_dirty)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
