"""MNIST, protocol dfg, IR 10 by default: a check of the pipeline, no paper cell (the source is MNIST itself
when EMNIST is absent, so transfer is trivial).

    python run.py --dataset mnist --budget smoke
"""
BUDGETS = {
    "full": {},
    "quick": {"steps": 4000, "checkpoint_every": 1000},
    "smoke": {"steps": 6, "eval_every": 2, "checkpoint_every": 3, "step_for_6": 4, "e_loss_for_6": 1e9,
              "source": {"steps": 60}, "train_fc": {"epochs": 1}},
}
