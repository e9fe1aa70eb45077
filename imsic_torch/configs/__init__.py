"""Configs: per-dataset constants of the released code, budgets, and the resolution of one run's config.

``get_config(dataset, budget, **overrides)`` returns the resolved dict that run.py saves as config.json.
"""
from __future__ import annotations

import copy
import importlib

DATASET_MODULES = {"mnist": "mnist", "fashion": "fashion"}

# Shared by both datasets: source/params.py (fudonglin/IMSIC@649abbd) and the module constants λ_cat, λ_con.
COMMON = {
    "latent_dim": 62, "n_classes": 10, "img_size": 32, "channels": 1,
    "batch_size": 64,  # GAN and CNN
    "lr": 2e-4, "b1": 0.5, "b2": 0.999,  # the three GAN optimisers
    "lambda_cat": 1.0, "lambda_con": 0.15,  # the only documented grid point (params.py L39-40)
    "gan_counts": [4000, 2000, 1000, 750, 500, 350, 200, 100, 60, 40],  # experiment.py L38-39
    "gan_epochs": 500, "gan_steps_per_epoch": None,  # None: one full pass (141 batches on 9,000 images)
    "sample_interval": 800,  # image grids every 800 batches (batch 0 included)
    "checkpoint_every": 100,  # epochs; the original's model_final_<100..500>
    "resume_every": 1,  # epochs between resume points (checkpoints/gan_last.pt): a stop loses at most one epoch
    "cnn_lr": 1e-4, "cnn_steps_per_epoch": None, "eval_every": 2,
    "synth_chunk": 100,  # images per generator call (a 10x10 grid each)
    "synth_per_class": 100,  # gene_nums (utils.py L329); the smoke budget makes fewer
    # category -> class map (project construction: Hungarian matching on a real-data classifier's mean
    # probabilities over generated images; the original's table fits only its shipped checkpoints)
    "map_epochs": 3, "map_steps_per_epoch": None, "map_samples_per_code": 200,
    "test_per_class": None,  # None: the full official test set
}

# What each budget changes. Same networks, losses and data in every budget.
BUDGETS = {
    "full": {},
    # Under 45 minutes per run on 2 idle CPU cores (README, "Budgets"): 8 GAN epochs of the full 141-batch
    # pass (1,128 iterations, ~1.6% of the full schedule), the CNN stage unchanged.
    "quick": {"gan_epochs": 8, "checkpoint_every": 2, "sample_interval": 282, "map_epochs": 2},
    # Seconds, for tests: 2 GAN epochs of 2 batches, 2 CNN epochs of 3 batches, 50 test images per class.
    # Sample grids at batch 0 only, 10 synthetic images per class.
    "smoke": {"gan_epochs": 2, "gan_steps_per_epoch": 2, "checkpoint_every": 1, "sample_interval": 10 ** 9,
              "synth_per_class": 10, "synth_chunk": 10,
              "cnn_epochs": 2, "cnn_steps_per_epoch": 3, "map_epochs": 1, "map_steps_per_epoch": 3,
              "map_samples_per_code": 10, "test_per_class": 50},
}


def get_config(dataset: str, budget: str = "full", **overrides) -> dict:
    if dataset not in DATASET_MODULES:
        raise ValueError(f"no IMSIC config for dataset {dataset!r}; known: {', '.join(DATASET_MODULES)}")
    if budget not in BUDGETS:
        raise ValueError(f"unknown budget {budget!r}; known: {', '.join(BUDGETS)}")
    cfg = copy.deepcopy(COMMON)
    cfg.update(copy.deepcopy(importlib.import_module(f"{__name__}.{DATASET_MODULES[dataset]}").CONFIG))
    cfg.update(copy.deepcopy(BUDGETS[budget]))
    cfg["budget"] = budget
    unknown = sorted(set(overrides) - set(cfg) - {"model", "category_map", "seed", "split_seed", "device"})
    if unknown:
        raise ValueError(f"unknown config keys: {', '.join(unknown)}")
    cfg.update({k: v for k, v in overrides.items() if v is not None})
    if cfg["lambda_con"] < 0:
        raise ValueError(f"lambda_con must be >= 0, got {cfg['lambda_con']}")
    if cfg["code_dim"] < 1:
        raise ValueError(f"code_dim must be >= 1, got {cfg['code_dim']}")
    return cfg
