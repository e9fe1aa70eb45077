"""Fashion-MNIST: a deep copy of the MNIST config with another dataset name (as in the original).

Full budget: ``make reproduce-caleg-fmnist``. DGC's same-protocol Fashion ACSA is .8364 (context only).
"""
import copy

from .mnist import CONFIG as _MNIST

CONFIG = copy.deepcopy(_MNIST)
CONFIG["dataset"] = "fashion"
