"""MNIST, protocol dfg, IR 10 by default: a check of the pipeline, no paper cell (the source is MNIST itself
when EMNIST is absent, so transfer is trivial).

    python run.py --dataset mnist --budget smoke
"""
from . import LENET, LENET_BUDGETS

CONFIG = {**LENET, "dataset": "mnist"}
BUDGETS = LENET_BUDGETS
