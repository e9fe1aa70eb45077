"""MNIST (``config_mnist``, ``configs.py`` L46-84 of anonymous184/CaLeG@096caad), DGC protocol counts 4000 ... 40
(IR 100). Full budget: ``make reproduce-caleg-mnist`` (5 seeds x 50 epochs; not run yet). Quick budget:
``make reproduce-caleg-mnist-quick``, 733-1410 s per seed on 2-core CPUs, test ACSA 0.883-0.897 per seed (the
faithful records in results/caleg/). No published CaLeG number exists; DGC's table on the same protocol
(paper_tables/dgc_cvpr2020.csv) is context only.
"""
from . import FIX_DEFAULTS, PORT, QUICK, SMOKE

CONFIG = {
    "dataset": "mnist",
    "image_shape": [28, 28, 1],
    "num_classes": 10,
    "batch_size": 100,
    "epoch_num": 50,
    "lr": 5e-4,
    "beta1": 0.5,
    "lr_schedule": "none",
    "zdim": 64,
    "conv_filters_dim": 4,
    "e_num_filters": 1024,
    "e_num_layers": 4,
    "g_num_filters": 1024,
    "g_num_layers": 3,
    "d_num_filters": 512,  # never read by the original (models.py L33, L40); used with critic_use_d_config
    "d_num_layers": 4,
    "init_std": 0.0099999,
    "noise_std": 0.01,
    "e_pretrain": True,
    "e_pretrain_sample_size": 1000,
    "e_pretrain_steps": 200,
    "e_pretrain_stop_loss": 0.1,
    "rec_weight": 0.05,  # cost = 'l2sq'
    "mmd_lambda": 10.0,
    "gp_weight": 1.0,
    "refit_every": 5,  # class Gaussians refitted after epochs 4, 9, 14, ...; phase 2 starts after the first
    "save_every_epoch": 10,  # the original's checkpoint interval (recorded; the port checkpoints every epoch)
    "epochs": 50,  # epoch_num, the key the port's loop reads and the shorter budgets change
    **PORT,
    **FIX_DEFAULTS,
}

BUDGETS = {"quick": {**QUICK, "phase2_steps_per_epoch": 25}, "smoke": SMOKE}
