"""Per-dataset configs of DFG in the shared shape (``shared_data.config``): each module defines ``CONFIG`` (the
``full`` budget) and ``BUDGETS`` (what ``quick`` and ``smoke`` change). run.py resolves them with
``shared_data.config.resolve``, which refuses a key ``CONFIG`` does not have, and saves the result as the run
folder's config.json.

Both datasets use the LeNet-5 values below: the released code's constants (train.py's argparse defaults,
opensuh/DFG@fa1218f L1017-1062), the port's own (checkpoints, the source network's recipe) and what a run's flags
set (model, channel evaluation, regulariser weights, fixes).
"""
from fixes import FIXES

LENET = {
    "backbone": "lenet",
    "batch_size": 64,
    "steps": 40000,  # --generator_step
    "eval_every": 100,  # evaluation on the full test set (not at step 0)
    "checkpoint_every": 2000,
    "lr_extractor": 1e-4, "lr_classifier": 1e-4, "lr_discriminator": 1e-4, "lr_generator": 1e-4,
    "betas": [0.5, 0.9],
    "lambda_gp": 10.0,
    "alpha_extractor": 0.01, "alpha_classifier": 0.01, "beta_classifier": 0.01,  # --alpha-extractor/-classifier
    "num_d_iters": 5,
    "step_for_3_4": 1, "step_for_5": 5, "step_for_6": 2000, "e_loss_for_6": 0.05,
    "rho": 0.75,
    "init_threshold": 0.9, "update_threshold": 0.95,
    "noise_dim": 100,
    "label_min": 10,  # images per class for the extractor filter ablation
    "classifier_eval_batches": 4,
    # the source network's recipe is not published; this one is recorded in result.json
    "source": {"dataset": "emnist-digits or mnist", "lr": 1e-3, "batch_size": 64, "epochs": 3, "steps": None},
    "train_fc": {"lr": 0.01, "epochs": 10},
    # set by run.py's flags
    "model": "dfg",  # --model: dfg or a baseline of the paper's table (original, fine-tuning, delta)
    "channel_eval": "computed",  # --channel-eval: computed by the port, or the authors' released files
    "fixes": {f.key: f.default for f in FIXES},  # the fix flags; all at their defaults: the released code
    "stop_after": None,  # --stop-after: stop at the first checkpoint at or past this step
}

# What each budget changes (a nested dict is given whole).
LENET_BUDGETS = {
    "quick": {"steps": 4000, "checkpoint_every": 1000},
    "smoke": {"steps": 6, "eval_every": 2, "checkpoint_every": 3, "step_for_6": 4, "e_loss_for_6": 1e9,
              "source": {**LENET["source"], "steps": 60}, "train_fc": {**LENET["train_fc"], "epochs": 1}},
}
