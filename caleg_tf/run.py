#!/usr/bin/env python
"""CaLeG: Class-aware and Adversarial Latent Feature Generation (official code anonymous184/CaLeG @ 096caad2;
no paper could be located), ported to TF1 graph code on ``tf.compat.v1``.

    python run.py --dataset {mnist,fashion,cifar10,svhn} --imbalance 1 --aug-rate R [--seeds 1,2,3,4,5]
    python run.py --dataset mnist --budget quick --seeds 1,2,3 --grid fix_grid.txt   # every variant of a grid

As in the original, ``--seeds`` trains one fresh model per seed s on the imbalanced subset drawn with seed s
(split seed = training seed = s), one run folder each. Without it one run uses --split-seed and --seed.
Faithful by default; each flag of the corrections group switches one documented correction on (README.md).
"""
from __future__ import annotations

import sys
from pathlib import Path

from shared_data import cli, skeleton, variants

import configs
from caleg import entry
from fixes import FIXES, PAPER_METHOD, variant_of


def add_arguments(parser) -> None:
    own = parser.add_argument_group("CaLeG's own flags")
    own.add_argument("--aug-rate", type=cli.finite_float, default=1.0,
                     help="r: ceil(batch x r) generated codes per batch, split by class shortfall; r <= 0 trains "
                          "the no-augmentation variant (caleg_noaug.py). Default 1.0")


def configure(args) -> dict:
    """The dataset's config for --budget, with --aug-rate and the fix flags (an unknown key is refused)."""
    return configs.get_config(args.dataset, args.budget, aug_rate=args.aug_rate, **variants.values(args, FIXES))


def run(args, cfg: dict, split_seed: int, seed: int) -> skeleton.Outcome:
    return entry.run(args, cfg, split_seed, seed, variant=variant_of(cfg), paper_method=PAPER_METHOD)


METHOD = skeleton.Method(
    name="caleg", doc=__doc__, root=Path(__file__).resolve().parent, datasets=("mnist", "fashion", "svhn", "cifar10"),
    add_arguments=add_arguments, configure=configure, run=run, fixes=FIXES, default_dataset="mnist",
    default_split_seed=1, default_seed=1, default_budget="full", seed_draws_split=True, stop_unit="epoch")


def main(argv=None) -> int:
    return skeleton.main(METHOD, argv)


if __name__ == "__main__":
    sys.exit(skeleton.main(METHOD))
