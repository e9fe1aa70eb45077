"""CelebA (five hair colours, 64x64): the released ``config_celeba`` (`configs.py` L1-41).

Reproduces: DGC row of Table 2 (CelebA: ACSA 0.6755, Fmacro 0.6454, Gmacro 0.7779) and Table 3 (RMI 0.2987,
PMA 0.7603). The code uses k = 64 where the paper says 128 (``--zdim 128``).

shared_data declares CelebA but cannot load it yet (the 1.4 GB archive is not mirrored and its preprocessing is
not part of shared_data): a run stops with shared_data's "not loadable" error. The code path (5-layer encoder,
4-layer decoder, MLP classifier, no LVO, 'manual_smooth' schedule, eval_strategy 2) is built and unit-tested.

Not run (no data); 708 batches of 25 per epoch, 30 epochs.
"""
from . import mnist

CONFIG = dict(
    mnist.CONFIG,
    dataset="celeba",
    input_shape=[64, 64, 3],
    n_classes=5,
    batch_size=25,
    epoch_num=30,
    lr=5e-5,
    lr_schedule="manual_smooth",  # constant 100^(-1/30) in every epoch (faithful); --lr-schedule-cumulative
    conv_filters_dim=5,
    e_num_layers=5,
    g_num_layers=4,
    e_pretrain_sample_size=256,
    mlp_classifier=True,
    LVO=False,
    eval_strategy=2,  # 0-based epochs 1-21, 24, 27
    test_batch_size=2,  # batch_size // 10
)
BUDGETS = {
    "full": {},
    # not sized (no data): 2 epochs, one evaluation on the first 100 test images of each class
    "quick": {"epoch_num": 2, "eval_strategy": "last", "test_subset_per_class": 100, "save_every_epoch": 1},
    "smoke": {"epoch_num": 2, "batch_size": 10, "steps_per_epoch": 2, "e_pretrain_sample_size": 50,
              "e_pretrain_steps": 2, "eval_strategy": "all", "test_subset_per_class": 2, "sampling_size": 2,
              "save_every_epoch": 1, "e_num_filters": 64, "hdim": 256, "g_num_filters": 64},  # MNIST's narrow nets
}
