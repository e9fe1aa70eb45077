#!/usr/bin/env python
"""CaLeG: Class-aware and Adversarial Latent Feature Generation (official code anonymous184/CaLeG @ 096caad2;
no paper could be located), ported to TF1 graph code on ``tf.compat.v1``.

    python run.py --dataset {mnist,fashion,cifar10,svhn} --imbalance 1 --aug-rate R [--seeds 1,2,3,4,5]

As in the original, ``--seeds`` trains one fresh model per seed s on the imbalanced subset drawn with seed s
(split seed = training seed = s), one run folder each. Without it one run uses --split-seed and --seed.
Faithful by default; each flag of the "fixes" group switches one documented correction on (README.md).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from shared_data import cli, records, splits  # noqa: E402
from shared_data.fetch import DataError  # noqa: E402
from shared_data.metrics import summary_line  # noqa: E402
from shared_data.protocols import SplitError  # noqa: E402
from shared_data.registry import UnknownDatasetError  # noqa: E402

from configs import FIXES, get_config  # noqa: E402

DATASETS = ("mnist", "fashion", "svhn", "cifar10")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_common_args(p, datasets=DATASETS, default_dataset="mnist", default_protocol="dgc",
                        default_split_seed=1, default_seed=1, default_budget="full")
    o = p.add_argument_group("CaLeG's own flags")
    o.add_argument("--aug-rate", type=float, default=1.0,
                   help="r: ceil(batch x r) generated codes per batch, split by class shortfall; r <= 0 trains the "
                        "no-augmentation variant (caleg_noaug.py). Default 1.0")
    o.add_argument("--seeds", default=None,
                   help="comma-separated seeds, e.g. 1,2,3,4,5 (the original's loop): one run per seed, with split "
                        "seed = training seed = s. Overrides --split-seed/--seed")
    f = p.add_argument_group("fixes (all off = the released code's behaviour; see README 'Fix flags')")
    f.add_argument("--train-classifier-phase2", action="store_true", help="#1 keep training C after the warm-up")
    f.add_argument("--classify-generated", action="store_true", help="#2 add CE(C(z_gen), y_gen) to C's objective")
    f.add_argument("--ce-reduction", choices=("sum", "mean"), default="sum", help="#3 classifier CE over the batch")
    f.add_argument("--gp-real-resample", action="store_true", help="#4 r > 1: draw B' real rows for the GP")
    f.add_argument("--separate-optimizers", action="store_true", help="#5 one Adam per minimise op")
    f.add_argument("--no-eval-noise", action="store_true", help="#6 no input noise at evaluation")
    f.add_argument("--refit-real-only", action="store_true", help="#7 refit the Gaussians on real codes only")
    f.add_argument("--cov-ridge", type=float, default=0.0, help="#8 add eps*I to each covariance (default 0)")
    f.add_argument("--critic-use-d-config", action="store_true", help="#9 build D from d_num_filters/d_num_layers")
    f.add_argument("--reshuffle-each-epoch", action="store_true",
                   help="#10 new batch order between epochs (the first keeps the loader's order)")
    f.add_argument("--report-epoch", type=int, default=None, help="#11 report this epoch (1-based), not the last")
    f.add_argument("--val-fraction", type=float, default=0.0,
                   help="#11 hold out this stratified fraction of the training subset and report the epoch with "
                        "the best validation ACSA")
    x = p.add_argument_group("run control")
    x.add_argument("--no-progress", action="store_true", help="no progress bars")
    x.add_argument("--publish", default=None, metavar="RESULTS",
                   help="copy each finished seed's result.json to RESULTS/caleg/<run name>/ as soon as it finishes")
    x.add_argument("--stop-after-epoch", type=int, default=None,
                   help="stop (as if interrupted) once this many epochs are checkpointed; re-run to resume")
    return p.parse_args(argv)


def seed_list(args):
    if args.seeds is None:
        return [(args.split_seed, args.seed)]
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"--seeds takes comma-separated integers, got {args.seeds!r}") from None
    if not seeds:
        raise ValueError("--seeds is empty")
    return [(s, s) for s in seeds]


def build_config(args) -> dict:
    fixes = {k: getattr(args, k) for k in FIXES}
    return get_config(args.dataset, args.budget, aug_rate=args.aug_rate, **fixes)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        seeds = seed_list(args)  # checked before TensorFlow is imported
        cfg = build_config(args)
        from caleg.train import Trainer, variant_name

        results = []
        for split_seed, seed in seeds:
            split = splits.get_split(args.dataset, args.protocol, split_seed, imbalance=args.imbalance, ir=args.ir,
                                     data_root=args.data_root, mirrors=args.mirror)
            variant = variant_name(cfg)
            tag = variant.replace("caleg-", "", 1).replace("+", "-")
            if args.imbalance == 0:
                tag = "balanced-" + tag
            name = records.run_name(args.dataset, args.protocol, split_seed, seed, args.budget, variant=tag)
            run_cfg = dict(cfg, protocol=args.protocol, imbalance=args.imbalance, ir=args.ir, split_seed=split_seed,
                           seed=seed, split_id=split.split_id, split_hash=split.split_hash)
            run = records.RunDir.create(args.out, "caleg", name, run_cfg)
            if run.is_complete():
                print(f"{run.path}: finished earlier, reporting its result")
            result = Trainer(cfg, split, run, seed, progress=not args.no_progress,
                             stop_after_epoch=args.stop_after_epoch).train()
            results.append(result)
            if args.publish:
                print(f"published {records.publish(run.path, args.publish)}")
            print(f"{run.path}  epoch {result.get('extra', {}).get('reported_epoch')}: "
                  f"{summary_line(result['metrics'])}")
        if len(results) > 1:
            import numpy as np

            acsa = np.array([r["metrics"]["acsa"] for r in results])
            print(f"ACSA over {len(acsa)} seeds: {acsa.mean():.4f} +- {acsa.std():.4f}")
        return 0
    except KeyboardInterrupt:
        print("interrupted; re-run the same command to resume from the last epoch checkpoint", file=sys.stderr)
        return 130
    except (DataError, SplitError, UnknownDatasetError, records.RunError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        if type(exc).__name__ != "Interrupted":  # caleg.train.Interrupted (--stop-after-epoch)
            raise
        print(str(exc))
        return 3


if __name__ == "__main__":
    sys.exit(main())
