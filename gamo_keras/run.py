"""GAMO: Generative Adversarial Minority Oversampling (Mullick, Datta, Das, ICCV 2019), faithful Keras 3 port.

    python run.py --dataset fashion --protocol gamo --split-seed 0 --budget full     # make reproduce-gamo-fmnist
    python run.py --dataset mnist --model baseline                                   # classifier M alone
    python run.py --dataset mnist --seeds 0,1,2 --budget quick                       # one run per training seed
    python run.py --dataset fashion --stage gamo2pix                                 # after the GAMO run

Re-running the same command resumes from the last checkpoint; a finished run prints its result. Every
deviation from the released code is an opt-in flag declared in fixes.py (README.md lists them).
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

from shared_data import cli, skeleton, variants
from shared_data.config import resolve

from fixes import FIXES, gamo2pix_variant, paper_method_of, variant_of
from gamo import config, entry  # the package sets KERAS_BACKEND and the TF log level before Keras is imported

DATASETS = ("mnist", "fashion", "cifar10", "svhn")


def add_arguments(p) -> None:
    g = p.add_argument_group("GAMO")
    g.add_argument("--model", choices=config.MODELS, default=None,
                   help="gamo: the three-player game (default); baseline: classifier M alone, same optimiser, "
                        "batches and evaluation, 50,000 batch steps (the original's deleted dense_mlp_main.py)")
    g.add_argument("--stage", choices=config.STAGES, default="gamo",
                   help="gamo: train and score (default); gamo2pix: per-class decoders from generated features "
                        "to images for a finished conv-variant run (Fashion-MNIST), and its sample grid")
    g.add_argument("--max-step", type=cli.positive_int, default=None,
                   help="override the budget's max_step (GAMO counts 2 steps per iteration: 50000 = 25,000 its)")
    g.add_argument("--eval-every", type=cli.positive_int, default=None, help="evaluation period in steps (default 500)")
    g.add_argument("--save-every", type=cli.positive_int, default=None,
                   help="checkpoint period in steps (default 5000)")
    g.add_argument("--gamo2pix-steps", type=cli.positive_int, default=None, help="GAMO2pix steps per minority class")
    o = p.add_argument_group("port settings (no effect on the maths)")
    o.add_argument("--no-xla", dest="xla", action="store_false", default=None,
                   help="compile the game without XLA (TensorFlow backend; about 3x slower on CPU)")
    o.add_argument("--tag", type=cli.plain_name, default=None,
                   help="suffix of the run folder name (letters, digits, '.', '_', '+', '-')")


def configure(args) -> dict:
    """``configs/<dataset>.py`` at the budget, with the flags and the fixes; checked before Keras is imported.
    The baseline keeps max_step and counts one step per iteration: 50,000 M updates, as in GAMO."""
    overrides = {key: getattr(args, dest) for dest, key in config.FLAG_KEYS.items()}
    cfg = resolve(importlib.import_module(f"configs.{args.dataset}"), args.budget,
                  dict(overrides, **variants.values(args, FIXES)))
    config.check_stage(config.of(cfg), args.stage)
    return cfg


def run(args, cfg: dict, split_seed: int, seed: int) -> skeleton.Outcome:
    return entry.run(args, cfg, split_seed, seed, variant=variant_of(cfg), paper_method=paper_method_of(cfg),
                     gamo2pix_folder=gamo2pix_variant(cfg).name)


METHOD = skeleton.Method(
    name=entry.NAME, doc=__doc__, root=Path(__file__).resolve().parent, datasets=DATASETS,
    add_arguments=add_arguments, configure=configure, run=run, fixes=FIXES, default_dataset=None,
    default_protocol="gamo", default_split_seed=0, default_seed=0, seed_draws_split=False, stop_unit="iteration")


def main(argv=None) -> int:
    return skeleton.main(METHOD, argv)


if __name__ == "__main__":
    sys.exit(main())
