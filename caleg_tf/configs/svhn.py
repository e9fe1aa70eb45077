"""SVHN (``config_SVHN``): a copy of CIFAR-10's config with 80 epochs. DGC protocol, counts 4500 ... 80.

Full budget: ``make reproduce-caleg-svhn`` (needs train_32x32.mat / test_32x32.mat, not in the offline
mirror). DGC's same-protocol SVHN ACSA is .7493 (context only).
"""
import copy

from .cifar10 import CONFIG as _CIFAR10

CONFIG = copy.deepcopy(_CIFAR10)
CONFIG["dataset"] = "svhn"
CONFIG["epoch_num"] = 80
