"""MNIST, the released pipeline (fudonglin/IMSIC@649abbd).

    python run.py --dataset mnist                   # full: 500 GAN epochs (70,500 iterations), CNN 8 epochs
    python run.py --dataset mnist --budget quick    # 8 GAN epochs, CNN 8 epochs: under 45 min on 2 CPU cores

No published IMSIC number is available (the paper's tables could not be read), so there is no table cell to
reach. The full budget is GPU work: about 17 h of GAN training at 100 GFLOP/s (NOTES.md, "Budgets").
"""
CONFIG = {
    # shared with the other dataset: source/params.py and the module constants λ_cat, λ_con
    "latent_dim": 62, "n_classes": 10, "img_size": 32, "channels": 1,
    "batch_size": 64,  # GAN and CNN
    "lr": 2e-4, "b1": 0.5, "b2": 0.999,  # the three GAN optimisers
    "lambda_cat": 1.0, "lambda_con": 0.15,  # the only documented grid point (params.py L39-40)
    "gan_counts": [4000, 2000, 1000, 750, 500, 350, 200, 100, 60, 40],  # experiment.py L38-39
    "gan_epochs": 500, "gan_steps_per_epoch": None,  # None: one full pass (141 batches on 9,000 images)
    "sample_interval": 800,  # image grids every 800 batches (batch 0 included)
    "checkpoint_every": 100,  # epochs; the original's model_final_<100..500>
    "resume_every": 1,  # epochs between resume points (checkpoints/gan_last.pt): a stop loses at most one epoch
    "cnn_lr": 1e-4, "cnn_steps_per_epoch": None, "eval_every": 2,
    "synth_chunk": 100,  # images per generator call (a 10x10 grid each)
    "synth_per_class": 100,  # gene_nums (utils.py L329); the smoke budget makes fewer
    # category -> class map (project construction: Hungarian matching on a real-data classifier's mean
    # probabilities over generated images; the original's table fits only its shipped checkpoints)
    "map_epochs": 3, "map_steps_per_epoch": None, "map_samples_per_code": 200,
    "test_per_class": None,  # None: the full official test set
    # this dataset's
    "dataset": "mnist",
    "code_dim": 4,  # params.py L29
    "cnn_epochs": 8,  # README command: main.py --dataset mnist --epochs 8
    # generation (source/utils.py L227-240): z ~ N(0, 0.5^2), every continuous code 0; numpy re-seeded per class
    "gen_z_std": 0.5,
    "gen_code": "zeros",
    "hardcoded_map": [6, 1, 4, 9, 0, 8, 5, 2, 7, 3],  # class -> categorical code (utils.py L328)
}

# What each shorter budget changes (the same in both datasets). Same networks, losses and data in every budget.
BUDGETS = {
    # Under 45 minutes per run on 2 idle CPU cores (NOTES.md, "Budgets"): 8 GAN epochs of the full 141-batch
    # pass (1,128 iterations, ~1.6% of the full schedule), the CNN stage unchanged.
    "quick": {"gan_epochs": 8, "checkpoint_every": 2, "sample_interval": 282, "map_epochs": 2},
    # Seconds, for tests: 2 GAN epochs of 2 batches, 2 CNN epochs of 3 batches, 50 test images per class.
    # Sample grids at batch 0 only, 10 synthetic images per class.
    "smoke": {"gan_epochs": 2, "gan_steps_per_epoch": 2, "checkpoint_every": 1, "sample_interval": 10 ** 9,
              "synth_per_class": 10, "synth_chunk": 10,
              "cnn_epochs": 2, "cnn_steps_per_epoch": 3, "map_epochs": 1, "map_steps_per_epoch": 3,
              "map_samples_per_code": 10, "test_per_class": 50},
}
