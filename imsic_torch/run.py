#!/usr/bin/env python
"""IMSIC: Interpretable Minority Synthesis for Imbalanced Classification (He, Lin, Yuan, Tzeng; IJCAI 2021),
ported from the official code fudonglin/IMSIC@649abbd so that it trains end to end on the shared splits.

    python run.py --dataset mnist [--budget quick] [--stage gan|map|synth|cnn|all] [--model baseline]
    python run.py --dataset fashion --gan released --seeds 1,2,3   # split seed = training seed = s, per s
    python run.py --dataset mnist --stop-after 3   # stop at the GAN's (or CNN's) first checkpoint at or past
                                                   # epoch 3, exit code 3; the same command resumes

Stages, each resuming from the previous stage's files in the same run folder: ``gan`` (InfoGAN-style GAN with
the structure loss, one λ_con grid point), ``map`` (categorical code -> class), ``synth`` (100 images per class),
``cnn`` (the small CNN on real + synthetic images, scored with shared_data.metrics). ``--model baseline`` trains
the same CNN on the same real split alone. Faithful by default; each flag of the "fixes" group switches one
documented correction on (README.md).
"""
from __future__ import annotations

import sys
from pathlib import Path

from shared_data import cli, config, skeleton, variants

import fixes
from imsic import entry


def add_arguments(p) -> None:
    o = p.add_argument_group("IMSIC's own flags")
    o.add_argument("--stage", choices=entry.STAGES, default="all",
                   help="run one stage (resuming from the previous stage's files in the run folder) or all")
    o.add_argument("--model", choices=("imsic", "baseline"), default="imsic",
                   help="baseline: the same CNN on the same real split, no synthetic images")
    o.add_argument("--gan", choices=("train", "released"), default="train",
                   help="train: the GAN stage trains the GAN (500 epochs at the full budget); released: the "
                        "authors' trained GAN (fudonglin/IMSIC@649abbd models/gan/, checksum verified) replaces "
                        "the GAN stage")
    o.add_argument("--category-map", choices=("auto", "hardcoded"), default="auto",
                   help="auto: Hungarian matching of a real-data classifier over generated images; hardcoded: "
                        "the authors' table for their shipped checkpoints")
    o.add_argument("--lambda-con", type=cli.finite_float, default=None,
                   help="structure-loss weight (default 0.15)")
    o.add_argument("--code-dim", type=cli.positive_int, default=None,
                   help="continuous codes (default: MNIST 4, Fashion 3)")
    x = p.add_argument_group("device")
    x.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="auto: CUDA when present, else the CPU")
    x.add_argument("--threads", type=cli.positive_int, default=None,
                   help="torch.set_num_threads (default: torch's choice)")


def configure(args) -> dict:
    """configs/<dataset>.py at the budget with the flags' values, the fixes, and what the run's choices force."""
    cfg = config.load("configs", args.dataset, args.budget, {"lambda_con": args.lambda_con, "code_dim": args.code_dim})
    cfg.update(variants.values(args, fixes.FIXES))
    return entry.derive(cfg, args, fixes.gan_training_options(cfg))


def run(args, cfg: dict, split_seed: int, seed: int) -> skeleton.Outcome:
    return entry.run_one(args, cfg, split_seed, seed, fixes.variant_of(cfg), fixes.PAPER_METHOD)


METHOD = skeleton.Method(
    name="imsic", doc=__doc__, root=Path(__file__).parent, datasets=("mnist", "fashion"),
    default_dataset="mnist", default_protocol="imsic", default_split_seed=0, default_seed=0, default_budget="full",
    add_arguments=add_arguments, configure=configure, run=run, fixes=fixes.FIXES,
    seed_draws_split=True, stop_unit="epoch")


def parse_args(argv=None):
    return skeleton.build_parser(METHOD).parse_args(argv)


def main(argv=None) -> int:
    return skeleton.main(METHOD, argv)


if __name__ == "__main__":
    sys.exit(skeleton.main(METHOD))
