"""DGC: Deep Generative Model for Robust Imbalance Classification (Wang, Lyu, Jing, CVPR 2020).

Faithful TF1 graph-code port (``tf.compat.v1``) of the official code (github.com/lvyilin/DGC, code commit
6486aa3), trained on a ``shared_data`` split and scored by ``shared_data.metrics``. The corrections of the released
code are opt-in flags (fixes.py; README).

    python run.py --dataset mnist --split-seed 1 --budget quick
    python run.py --dataset mnist --split-seeds 1,2,3,4,5           # the paper's five imbalanced subsets
    python run.py --dataset mnist --budget quick --stop-after 2       # stop at the checkpoint of epoch 2

The original's ``--seed`` chose the imbalanced subset: that is ``--split-seed`` here (default 1, as there);
``--seed`` is the training seed. The paper's mean +- std over "five imbalanced subsets" is split seeds 1-5.
Re-running the same command resumes from the last checkpoint, or reports the finished result.
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

from shared_data import cli, registry, skeleton, variants

from dgc import config, entry
from fixes import FIXES, PAPER_METHOD, variant_of


def add_arguments(p) -> None:
    o = p.add_argument_group("the original's flags")
    o.add_argument("--exp", default=None, help="alias of --dataset (the original's name for it)")
    h = p.add_argument_group("hyper-parameters (default: the dataset's config, see configs/)")
    h.add_argument("--epochs", type=cli.positive_int, default=None,
                   help="epoch_num (MNIST 50; the paper's Fig. 4 uses 100 for Fashion-MNIST)")
    h.add_argument("--lambda", dest="lambda_", metavar="LAMBDA", type=cli.finite_float, default=None,
                   help="lambda (code: 1; paper: {1, 10})")
    h.add_argument("--zdim", type=cli.positive_int, default=None, help="latent size k (code: 64; paper CelebA: 128)")
    h.add_argument("--aug-rate", type=cli.finite_float, default=None, help="latent oversampling rate r (0.6)")
    h.add_argument("--sampling-size", type=cli.positive_int, default=None,
                   help="S, samples per class at prediction (10)")
    h.add_argument("--test-subset", type=cli.positive_int, default=None,
                   help="evaluate on the first N test images of each class in the official order (default: the "
                        "budget's choice; the split records it)")
    h.add_argument("--lr", type=cli.finite_float, default=None, help="base learning rate")
    h.add_argument("--batch-size", type=cli.positive_int, default=None, help="training batch size")


def configure(args) -> dict:
    """``configs/<dataset>.py`` at the budget, with the hyper-parameter flags and the fixes (``dgc.config``)."""
    if args.exp is not None:
        args.dataset = registry.canonical_name(args.exp)
        if args.dataset not in config.DATASETS:
            raise config.ConfigError(f"--exp {args.exp}: no DGC config; available: {', '.join(config.DATASETS)}")
    module = importlib.import_module(f"configs.{args.dataset}")
    flags = {dest: getattr(args, dest) for dest in config.OVERRIDES}
    return config.resolve(module, args.budget, flags, variants.values(args, FIXES))


def run(args, cfg: dict, split_seed: int, seed: int) -> skeleton.Outcome:
    identity = dict(cfg, method=entry.NAME, protocol=args.protocol, split_seed=split_seed, seed=seed,
                    imbalance=args.imbalance, ir=args.ir)
    variant = variant_of(identity)
    identity["variant"] = variant.name
    return entry.run(args, cfg, identity, variant, split_seed, seed, PAPER_METHOD)


METHOD = skeleton.Method(
    name=entry.NAME, doc=__doc__, root=Path(__file__).resolve().parent, datasets=config.DATASETS,
    add_arguments=add_arguments, configure=configure, run=run, fixes=FIXES, default_dataset="mnist",
    default_protocol="dgc", default_split_seed=1, default_seed=0, seed_draws_split=False, stop_unit="epoch")


def main(argv=None) -> int:
    return skeleton.main(METHOD, argv)


if __name__ == "__main__":
    sys.exit(main())
