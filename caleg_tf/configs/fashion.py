"""Fashion-MNIST: a deep copy of the MNIST config with another dataset name (``configs.py`` L86-88 of
anonymous184/CaLeG@096caad), and MNIST's budgets.

Full budget: ``make reproduce-caleg-fmnist`` (not run yet). Quick budget: ``make reproduce-caleg-fmnist-quick``,
1271-1819 s per seed on a 2-core CPU, test ACSA 0.690-0.780 per seed (the faithful records in results/caleg/).
DGC's table on the same protocol (paper_tables/dgc_cvpr2020.csv) is context only.
"""
import copy

from .mnist import BUDGETS as _MNIST_BUDGETS
from .mnist import CONFIG as _MNIST

CONFIG = copy.deepcopy(_MNIST)
CONFIG["dataset"] = "fashion"

BUDGETS = copy.deepcopy(_MNIST_BUDGETS)
