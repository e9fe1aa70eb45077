#!/usr/bin/env python
"""CaLeG: Class-aware and Adversarial Latent Feature Generation (official code anonymous184/CaLeG @ 096caad2;
no paper could be located), ported to TF1 graph code on ``tf.compat.v1``.

    python run.py --dataset {mnist,fashion,cifar10,svhn} --imbalance 1 --aug-rate R [--seeds 1,2,3,4,5]
    python run.py --dataset mnist --budget quick --seeds 1,2,3 --grid fix_grid.txt   # every variant of a grid

As in the original, ``--seeds`` trains one fresh model per seed s on the imbalanced subset drawn with seed s
(split seed = training seed = s), one run folder each. Without it one run uses --split-seed and --seed.
Faithful by default; each flag of the "fixes" group switches one documented correction on (README.md).
"""
from __future__ import annotations

import argparse
import shlex
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from shared_data import cli, records, splits, variants  # noqa: E402
from shared_data.fetch import DataError  # noqa: E402
from shared_data.metrics import summary_line  # noqa: E402
from shared_data.protocols import SplitError  # noqa: E402
from shared_data.registry import UnknownDatasetError  # noqa: E402

from configs import get_config  # noqa: E402
from fixes import FIXES, variant_of  # noqa: E402

DATASETS = ("mnist", "fashion", "svhn", "cifar10")


class OneLineParser(argparse.ArgumentParser):
    """Bad command lines end with one line on stderr (and exit code 2), not the usage block."""

    def error(self, message):
        self.exit(2, f"error: {message} (python run.py --help lists the flags)\n")


def parse_args(argv=None):
    p = OneLineParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_common_args(p, datasets=DATASETS, default_dataset="mnist", default_protocol="dgc",
                        default_split_seed=1, default_seed=1, default_budget="full")
    o = p.add_argument_group("CaLeG's own flags")
    o.add_argument("--aug-rate", type=cli.finite_float, default=1.0,
                   help="r: ceil(batch x r) generated codes per batch, split by class shortfall; r <= 0 trains the "
                        "no-augmentation variant (caleg_noaug.py). Default 1.0")
    o.add_argument("--seeds", default=None,
                   help="comma-separated seeds, e.g. 1,2,3,4,5 (the original's loop): one run per seed, with split "
                        "seed = training seed = s. Overrides --split-seed/--seed")
    variants.add_arguments(p, FIXES, title="fixes (all off = the released code's behaviour; README 'Fixes')")
    x = p.add_argument_group("run control")
    x.add_argument("--no-progress", action="store_true", help="no progress bars")
    x.add_argument("--grid", default=None, metavar="FILE",
                   help="run every line of FILE (extra flags; '-' for none; '#' starts a comment) one after "
                        "another, each with the other flags of this command, e.g. fix_grid.txt")
    x.add_argument("--stop-after-epoch", type=cli.positive_int, default=None,
                   help="stop (as if interrupted) once this many epochs are checkpointed; re-run to resume")
    return p.parse_args(argv)


def seed_list(args):
    if args.seeds is None:
        return [(args.split_seed, args.seed)]
    return [(s, s) for s in cli.seed_list(args.seeds, "--seeds")]


def build_config(args) -> dict:
    return get_config(args.dataset, args.budget, aug_rate=args.aug_rate, **variants.values(args, FIXES))


def grid_lines(path) -> list[list[str]]:
    """The variants of a grid file: one line of extra flags each ("-": none; "#" starts a comment)."""
    lines = []
    for line in Path(path).read_text().splitlines():
        flags = line.split("#", 1)[0].strip()
        if flags:
            lines.append([] if flags == "-" else shlex.split(flags))
    if not lines:
        raise ValueError(f"{path}: no variant line")
    return lines


def without_grid(argv: list[str]) -> list[str]:
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--grid":
            skip = True
        elif not a.startswith("--grid="):
            out.append(a)
    return out


def commands(argv=None) -> list[argparse.Namespace]:
    """The runs one command line asks for: itself, or one per line of its --grid file (all parsed, and
    their configs resolved, before anything trains)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.grid is None:
        todo = [args]
    else:
        todo = [parse_args(without_grid(argv) + extra) for extra in grid_lines(args.grid)]
    for a in todo:
        build_config(a)
        seed_list(a)
    return todo


def run_one(args) -> list[dict]:
    from caleg.train import Trainer

    cfg = build_config(args)
    variant = variant_of(cfg)
    results = []
    for split_seed, seed in seed_list(args):
        split = splits.get_split(args.dataset, args.protocol, split_seed, imbalance=args.imbalance, ir=args.ir,
                                 data_root=args.data_root, mirrors=args.mirror, test_per_class=cfg["test_per_class"])
        name = records.run_name(args.dataset, args.protocol, split_seed, seed, args.budget, variant=variant.name,
                                tag="balanced" if args.imbalance == 0 else None)
        run_cfg = dict(cfg, protocol=args.protocol, imbalance=args.imbalance, ir=args.ir, split_seed=split_seed,
                       seed=seed, split_id=split.split_id, split_hash=split.split_hash)
        # Everything that can be refused is checked before the run folder exists (split loaded, config
        # resolved, the trainer's own checks), so a refused run leaves no folder behind.
        trainer = Trainer(cfg, split, None, seed, progress=not args.no_progress,
                          stop_after_epoch=args.stop_after_epoch)
        fresh = not (Path(args.out) / "caleg" / name).exists()
        run = trainer.run = records.RunDir.create(args.out, "caleg", name, run_cfg)
        if run.is_complete():
            print(f"{run.path}: finished earlier, reporting its result")
        try:
            result = trainer.train()
        except BaseException:
            if fresh and not trainer.started:  # failed before training began: nothing worth keeping
                shutil.rmtree(run.path, ignore_errors=True)
            raise
        results.append(result)
        if args.publish:
            print(f"published {records.publish(run.path, args.publish, allow_dirty=args.allow_dirty)}")
        print(f"{run.path}  epoch {result.get('extra', {}).get('reported_epoch')}: "
              f"{summary_line(result['metrics'])}")
    if len(results) > 1:
        import numpy as np

        acsa = np.array([r["metrics"]["acsa"] for r in results])
        print(f"{variant.name}: ACSA over {len(acsa)} seeds: {acsa.mean():.4f} +- {acsa.std():.4f}")
    return results


def main(argv=None) -> int:
    cli.sigterm_as_interrupt()  # a stop by a scheduler or `kill` checkpoints like Ctrl-C
    try:
        for args in commands(argv):  # checked before TensorFlow is imported
            run_one(args)
        return 0
    except KeyboardInterrupt:
        print("interrupted; re-run the same command to resume from the last epoch checkpoint", file=sys.stderr)
        return 130
    except (DataError, SplitError, UnknownDatasetError, records.RunError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a data root or --out that is not writable, or lies under a file
        print(cli.os_error_line(exc), file=sys.stderr)
        return 2
    except Exception as exc:
        if type(exc).__name__ != "Interrupted":  # caleg.train.Interrupted (--stop-after-epoch)
            raise
        print(str(exc))
        return 3


if __name__ == "__main__":
    sys.exit(main())
