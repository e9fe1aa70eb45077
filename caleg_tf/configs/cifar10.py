"""CIFAR-10 (``config_cifar10``, ``configs.py`` L3-39 of anonymous184/CaLeG@096caad), GAMO's counts 4500 ... 80
(IR 56.25) drawn with the DGC procedure (``dataset.py`` L16). Full budget: ``make reproduce-caleg-cifar10`` (not
run yet; needs cifar-10-python.tar.gz, not in the offline mirror)."""

from . import FIX_DEFAULTS, PORT, QUICK, SMOKE

CONFIG = {
    "dataset": "cifar10",
    "image_shape": [32, 32, 3],
    "num_classes": 10,
    "batch_size": 50,
    "epoch_num": 50,
    "lr": 5e-4,
    "beta1": 0.5,
    "lr_schedule": "manual_smooth",  # epoch e runs at lr * 100^(-(e+1)/E)
    "zdim": 64,
    "conv_filters_dim": 5,
    "e_num_filters": 1024,
    "e_num_layers": 4,
    "g_num_filters": 1024,
    "g_num_layers": 4,
    "d_num_filters": 1024,
    "d_num_layers": 4,
    "init_std": 0.0099999,
    "noise_std": 0.01,
    "e_pretrain": True,
    "e_pretrain_sample_size": 256,
    "e_pretrain_steps": 200,
    "e_pretrain_stop_loss": 0.1,
    "rec_weight": 0.05,
    "mmd_lambda": 1.0,
    "gp_weight": 1.0,
    "refit_every": 5,
    "save_every_epoch": 10,
    "epochs": 50,  # epoch_num, the key the port's loop reads and the shorter budgets change
    **PORT,
    **FIX_DEFAULTS,
}

BUDGETS = {"quick": {**QUICK, "phase2_steps_per_epoch": 50}, "smoke": SMOKE}
