"""Configurations: ``BASE`` holds the released code's constants (train.py's argparse defaults, opensuh/DFG@fa1218f
L1017-1062) and each dataset module's ``BUDGETS`` what a budget changes. ``get_config`` merges them."""
from __future__ import annotations

import copy
import importlib

BASE = {
    "backbone": "lenet",
    "batch_size": 64,
    "steps": 40000,  # --generator_step
    "eval_every": 100,  # evaluation on the full test set (not at step 0)
    "checkpoint_every": 2000,
    "lr_extractor": 1e-4, "lr_classifier": 1e-4, "lr_discriminator": 1e-4, "lr_generator": 1e-4,
    "betas": [0.5, 0.9],
    "lambda_gp": 10.0,
    "alpha_extractor": 0.01, "alpha_classifier": 0.01, "beta_classifier": 0.01,
    "num_d_iters": 5,
    "step_for_3_4": 1, "step_for_5": 5, "step_for_6": 2000, "e_loss_for_6": 0.05,
    "rho": 0.75,
    "init_threshold": 0.9, "update_threshold": 0.95,
    "noise_dim": 100,
    "label_min": 10,  # images per class for the extractor filter ablation
    "classifier_eval_batches": 4,
    # the source network's recipe is not published; this one is recorded in result.json
    "source": {"dataset": "emnist-digits or mnist", "lr": 1e-3, "batch_size": 64, "epochs": 3, "steps": None},
    "train_fc": {"lr": 0.01, "epochs": 10},
}


def get_config(dataset: str, budget: str, **overrides) -> dict:
    module = importlib.import_module(f"configs.{dataset}")
    cfg = copy.deepcopy(BASE)
    for key, value in module.BUDGETS[budget].items():
        if isinstance(value, dict):
            cfg[key] = {**cfg[key], **value}
        else:
            cfg[key] = value
    cfg.update(overrides)
    cfg["dataset"], cfg["budget"] = dataset, budget
    return cfg
