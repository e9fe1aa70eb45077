"""CaLeG's configs: one module per dataset (``configs/<dataset>.py``) with the original's constants (``configs.py``
of anonymous184/CaLeG@096caad) and the port's own keys as ``CONFIG`` (the full budget), and ``BUDGETS``, the keys
each shorter budget changes. ``shared_data.config`` resolves them; run.py saves the result as config.json.

This file holds what every dataset shares: the port's schedule keys (``PORT``), every fix with its faithful
default (``FIX_DEFAULTS``, from the one table in fixes.py), the shorter budgets (``QUICK``, ``SMOKE``), and
``get_config``, which resolves one dataset's config and checks the values that no flag checks.
"""
from __future__ import annotations

from shared_data import config, variants
from shared_data.errors import ConfigError

from fixes import FIXES

# Every fix key with its faithful default (the released code's behaviour).
FIX_DEFAULTS = variants.values({}, FIXES)

# The port's own keys, at their full-budget values (each dataset module adds ``epochs``, its ``epoch_num``):
#   aug_rate         r: ceil(batch x r) generated codes per batch (run.py's --aug-rate); r <= 0: no augmentation
#   steps_per_epoch  batches per epoch (None: one pass); batches continue cyclically through the fixed order,
#                    so consecutive short epochs still visit every image
#   phase2_steps_per_epoch  the same for phase-2 epochs only (None: steps_per_epoch)
#   test_per_class   evaluate on the first N test images of each class (None: the full test set); the cut is
#                    made by shared_data.splits (test_per_class=), which records it in the split and result
#   eval_batch_size  images per evaluation batch
# and the budgets also change epochs, refit_every (the Gaussian refit interval in epochs; the warm-up, phase 1,
# lasts this many epochs) and e_pretrain_steps (the cap on encoder pretraining steps; it stops early at
# loss < 0.1 in every budget).
PORT = {"aug_rate": 1.0, "steps_per_epoch": None, "phase2_steps_per_epoch": None, "test_per_class": None,
        "eval_batch_size": 500}

# One MNIST/Fashion run in roughly 20 minutes on 2 idle CPU cores (README, "How to run"): at most 5 pretraining
# steps, 1 full warm-up epoch (90 joint-autoencoder steps), then 2 phase-2 epochs of phase2_steps_per_epoch
# iterations each (set per dataset: 25 for MNIST/Fashion; a phase-2 iteration costs 3-7 warm-up steps), Gaussians
# refitted after every epoch, the full test set evaluated after every epoch. CIFAR10/SVHN (batch 50): 206 warm-up
# steps, then 2 x 50.
QUICK = {"epochs": 3, "refit_every": 1, "e_pretrain_steps": 5}

# Seconds, for tests: every stage and file of a run (pretraining, warm-up, refit, phase 2, evaluation,
# checkpoints, pictures) on narrow networks. The full-width nets (1024 filters) made one smoke run cost
# minutes of CPU, nearly all of it in the convolutions of two phase-2 iterations; the code paths do not
# depend on the width (each stack still halves its channels layer by layer: 8, 16, 32, 64).
SMOKE = {"epochs": 2, "refit_every": 1, "steps_per_epoch": 2, "batch_size": 20, "e_pretrain_steps": 2,
         "e_pretrain_sample_size": 200, "test_per_class": 50,
         "e_num_filters": 64, "g_num_filters": 64, "d_num_filters": 64}


def get_config(dataset: str, budget: str = "full", **overrides) -> dict:
    """``configs/<dataset>.py`` resolved for ``budget`` with ``overrides`` (an unknown key is refused; a value
    of None leaves the key as it is), then the values no flag checks are checked."""
    return check(config.load(__name__, dataset, budget, overrides))


def check(cfg: dict) -> dict:
    if cfg["ce_reduction"] not in ("sum", "mean"):
        raise ConfigError(f"ce_reduction must be 'sum' or 'mean', got {cfg['ce_reduction']!r}")
    if not 0.0 <= cfg["val_fraction"] < 1.0:
        raise ConfigError(f"val_fraction must be in [0, 1), got {cfg['val_fraction']}")
    if cfg["cov_ridge"] < 0:
        raise ConfigError(f"cov_ridge must be >= 0, got {cfg['cov_ridge']}")
    return cfg
