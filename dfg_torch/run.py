#!/usr/bin/env python
"""DFG: Discriminative Feature Generation for classification of imbalanced data (Suh, Lukowicz, Lee, Pattern
Recognition 2022), ported from opensuh/DFG@41fa92d (code of fa1218f) to current PyTorch, LeNet-5 backbone.

    python run.py --dataset fashion [--model dfg|original|fine-tuning|delta]
                  [--stage all|source|channel-eval|train|eval] [--split-seeds 0,1,2]

Stages run in one run folder, each resuming from the previous one's files; a stage alone ends with exit code 3,
like --stop-after. Faithful by default; each flag of the "fixes" group switches one documented correction on
(README.md).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from shared_data import cli, config, errors, skeleton, variants

from dfg.entry import STAGES, run_one
from fixes import FIXES, RESNET_ONLY, paper_method_of, variant_of

MODELS = ("dfg", "original", "fine-tuning", "delta")


def _strength(value: str) -> float:
    try:
        v = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a regulariser weight is a number >= 0, got {value!r}") from None
    if not (v >= 0 and v != float("inf")):
        raise argparse.ArgumentTypeError(f"a regulariser weight is a finite number >= 0, got {value!r}")
    return v


def add_arguments(p: argparse.ArgumentParser) -> None:
    o = p.add_argument_group("DFG's own flags")
    o.add_argument("--minority", type=cli.nonneg_int, default=None, help="number of minority classes (default 8)")
    o.add_argument("--model", choices=MODELS, default="dfg",
                   help="dfg, or a baseline of the paper's table on the same split and source (default dfg)")
    o.add_argument("--stage", choices=STAGES, default="all", help="run one stage (default: all that are missing)")
    o.add_argument("--channel-eval", choices=("computed", "released"), default="computed",
                   help="computed: filter ablation of the port's source network (MNIST stand-in for EMNIST); "
                        "released: the authors' own channel-evaluation files (Fashion-MNIST; models dfg, delta) "
                        "(default computed)")
    o.add_argument("--alpha-extractor", type=_strength, default=None,
                   help="weight of the extractor regulariser Omega_E (released code: 0.01)")
    o.add_argument("--alpha-classifier", type=_strength, default=None,
                   help="weight of the classifier regulariser Omega_C (released code: 0.01)")
    o.add_argument("--source-checkpoint", default=None,
                   help="a LeNet-5 state dict with 10 outputs (e.g. trained on EMNIST digits) instead of training one")
    o.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda, cuda:N")
    o.add_argument("--threads", type=cli.positive_int, default=1,
                   help="torch CPU threads (default 1: the layers are small, and on a shared 2-core machine two "
                        "threads measured 6x slower than one; see README 'Speed')")


def configure(args) -> dict:
    """The resolved config of configs/<dataset>.py at ``--budget`` with this command's flags."""
    fx = variants.values(args, FIXES)
    bad = [k for k in RESNET_ONLY if fx[k] not in (False, None)]
    if bad:
        raise errors.ConfigError(f"--{bad[0].replace('_', '-')} applies to the ResNet-50 backbone, which this port "
                                 f"does not build (LeNet-5 only)")
    if not 0.0 <= fx["val_fraction"] < 1.0:
        raise errors.ConfigError(f"--val-fraction must be in [0, 1), got {fx['val_fraction']}")
    if fx["leaky_slope"] < 0:
        raise errors.ConfigError(f"--leaky-slope must be >= 0, got {fx['leaky_slope']}")
    if args.channel_eval == "released" and args.model not in ("dfg", "delta"):
        raise errors.ConfigError(f"--channel-eval released applies to the models that use channel weights (dfg, "
                                 f"delta), not {args.model}")
    if args.source_checkpoint and not Path(args.source_checkpoint).is_file():
        raise errors.ConfigError(f"source checkpoint {args.source_checkpoint} does not exist")
    return config.load("configs", args.dataset, args.budget, {
        "model": args.model, "fixes": fx, "channel_eval": args.channel_eval, "alpha_extractor": args.alpha_extractor,
        "alpha_classifier": args.alpha_classifier, "stop_after": args.stop_after})


def run(args, cfg: dict, split_seed: int, seed: int) -> skeleton.Outcome:
    return run_one(args, cfg, split_seed, seed, variant_of(cfg), paper_method_of(cfg))


METHOD = skeleton.Method(
    name="dfg", doc=__doc__, root=Path(__file__).resolve().parent, datasets=("fashion", "mnist"),
    add_arguments=add_arguments, configure=configure, run=run, fixes=FIXES, default_dataset="fashion",
    default_protocol="dfg", protocols=("dfg",), default_split_seed=0, default_seed=0, default_budget="full",
    seed_draws_split=False, stop_unit="step")


def main(argv=None) -> int:
    return skeleton.main(METHOD, argv)


if __name__ == "__main__":
    sys.exit(skeleton.main(METHOD))
