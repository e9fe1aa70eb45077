"""Fashion-MNIST, protocol dfg, IR 40 (2 majority x 6000 + 8 minority x 150 = 13,200), LeNet-5 source.

    python run.py --dataset fashion --model {dfg,original,fine-tuning,delta} --split-seed {0,1,2} --budget full

Paper (official README table, F-MNIST column, top-1 %): ORIGINAL 77.13 +- 3.24, FINE-TUNING 75.39 +- 3.54,
DELTA 78.91 +- 2.27, DFG 82.65 +- 0.28.
Measured runtime on the idle 2-core Intel Xeon, one thread, beside another one-thread run: model dfg full
(40,000 steps) 4,255 s with the source network (30 s) and the test evaluations, quick (4,000) 636 s; model
original quick 68 s. On a 2-core AMD EPYC shared with other jobs (load average 7-8) the same dfg step took
0.9 s, so full was about 10 h there. Smoke: seconds per stage.
"""
from . import LENET, LENET_BUDGETS

CONFIG = {**LENET, "dataset": "fashion"}
BUDGETS = LENET_BUDGETS
