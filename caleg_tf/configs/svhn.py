"""SVHN (``config_SVHN``): a copy of CIFAR-10's config with 80 epochs (``configs.py`` L41-44 of
anonymous184/CaLeG@096caad), and CIFAR-10's budgets. DGC protocol, counts 4500 ... 80.

Full budget: ``make reproduce-caleg-svhn`` (not run yet; needs train_32x32.mat / test_32x32.mat, not in the
offline mirror). DGC's table on the same protocol (paper_tables/dgc_cvpr2020.csv) is context only.
"""
import copy

from .cifar10 import BUDGETS as _CIFAR10_BUDGETS
from .cifar10 import CONFIG as _CIFAR10

CONFIG = copy.deepcopy(_CIFAR10)
CONFIG["dataset"] = "svhn"
CONFIG["epoch_num"] = CONFIG["epochs"] = 80

BUDGETS = copy.deepcopy(_CIFAR10_BUDGETS)
