"""Configs: per-dataset constants (the original's configs.py), fix flags, budgets.

``get_config(dataset, budget, **overrides)`` resolves one run's config; run.py saves it as config.json.
"""
from __future__ import annotations

import copy
import importlib

from shared_data import variants

from fixes import FIXES

DATASET_MODULES = {"mnist": "mnist", "fashion": "fashion", "cifar10": "cifar10", "svhn": "svhn"}

# Every fix key with its faithful default (the released code's behaviour), from the one table in fixes.py.
FIX_DEFAULTS = variants.values({}, FIXES)

# What each budget changes. Same networks (smoke: narrower), losses and weights in every budget.
#   epochs           number of training epochs
#   refit_every      Gaussian refit interval in epochs; the warm-up (phase 1) lasts this many epochs
#   steps_per_epoch  batches per epoch (None: one pass); batches continue cyclically through the fixed order,
#                    so consecutive short epochs still visit every image
#   phase2_steps_per_epoch  the same for phase-2 epochs only (None: steps_per_epoch)
#   e_pretrain_steps cap on encoder pretraining steps (stops early at loss < 0.1 in every budget)
#   test_per_class   evaluate on the first N test images of each class (None: the full test set); the cut is
#                    made by shared_data.splits (test_per_class=), which records it in the split and result
BUDGETS = {
    "full": {},
    # One MNIST/Fashion run in roughly 20 minutes on 2 idle CPU cores (README, "Budgets"): at most 5
    # pretraining steps, 1 full warm-up epoch (90 joint-autoencoder steps), then 2 phase-2 epochs of 25
    # iterations each (a phase-2 iteration costs 3-7 warm-up steps), Gaussians refitted after every epoch,
    # the full test set evaluated after every epoch. CIFAR10/SVHN (batch 50): 206 warm-up steps, 2 x 50.
    "quick": {"epochs": 3, "refit_every": 1, "e_pretrain_steps": 5,
              "phase2_steps_per_epoch": {"mnist": 25, "fashion": 25, "cifar10": 50, "svhn": 50}},
    # Seconds, for tests: every stage and file of a run (pretraining, warm-up, refit, phase 2, evaluation,
    # checkpoints, pictures) on narrow networks. The full-width nets (1024 filters) made one smoke run cost
    # minutes of CPU, nearly all of it in the convolutions of two phase-2 iterations; the code paths do not
    # depend on the width (each stack still halves its channels layer by layer: 8, 16, 32, 64).
    "smoke": {"epochs": 2, "refit_every": 1, "steps_per_epoch": 2, "batch_size": 20, "e_pretrain_steps": 2,
              "e_pretrain_sample_size": 200, "test_per_class": 50,
              "e_num_filters": 64, "g_num_filters": 64, "d_num_filters": 64},
}


def get_config(dataset: str, budget: str = "full", aug_rate: float = 1.0, **overrides) -> dict:
    if dataset not in DATASET_MODULES:
        raise ValueError(f"no CaLeG config for dataset {dataset!r}; known: {', '.join(DATASET_MODULES)}")
    if budget not in BUDGETS:
        raise ValueError(f"unknown budget {budget!r}; known: {', '.join(BUDGETS)}")
    cfg = copy.deepcopy(importlib.import_module(f"{__name__}.{DATASET_MODULES[dataset]}").CONFIG)
    cfg.update(copy.deepcopy(FIX_DEFAULTS))
    cfg.update({"aug_rate": float(aug_rate), "budget": budget, "epochs": cfg["epoch_num"], "steps_per_epoch": None,
                "phase2_steps_per_epoch": None, "test_per_class": None, "eval_batch_size": 500})
    for key, value in BUDGETS[budget].items():
        cfg[key] = value[dataset] if isinstance(value, dict) else value
    unknown = sorted(set(overrides) - set(cfg))
    if unknown:
        raise ValueError(f"unknown config keys: {', '.join(unknown)}")
    cfg.update({k: v for k, v in overrides.items() if v is not None})
    if cfg["ce_reduction"] not in ("sum", "mean"):
        raise ValueError(f"ce_reduction must be 'sum' or 'mean', got {cfg['ce_reduction']!r}")
    if not 0.0 <= cfg["val_fraction"] < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {cfg['val_fraction']}")
    if cfg["cov_ridge"] < 0:
        raise ValueError(f"cov_ridge must be >= 0, got {cfg['cov_ridge']}")
    return cfg
