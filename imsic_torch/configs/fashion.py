"""Fashion-MNIST, the released generation and CNN settings (fudonglin/IMSIC@649abbd).

    python run.py --dataset fashion                 # full: 500 GAN epochs, CNN 25 epochs
    python run.py --dataset fashion --budget quick  # 8 GAN epochs, CNN 25 epochs: under 45 min on 2 CPU cores

The released training script cannot make the GAN this pipeline loads (MNIST only, edges need code_dim 4,
generation needs code_dim 3), so the GAN trains on Fashion-MNIST with code_dim 3 and the edges that name code 3
dropped (README, "Fashion-MNIST"). No published IMSIC number is available.
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
    "dataset": "fashion",
    "code_dim": 3,  # forced by generate_fashion_sample (utils.py L383)
    "cnn_epochs": 25,  # README command: main.py --dataset fashion-mnist --epochs 25
    # generation (utils.py L400-424): z ~ N(0, 0.2^2) from the unseeded-per-class numpy stream,
    # codes [0, 0, N(0, 1) * 4.9] with the third drawn by torch.randn
    "gen_z_std": 0.2,
    "gen_code": "fashion",
    "gen_code_factor": 4.9,
    "hardcoded_map": [7, 6, 9, 8, 0, 4, 5, 3, 1, 2],  # utils.py L319
}

# What each shorter budget changes (the same in both datasets). Same networks, losses and data in every budget.
BUDGETS = {
    # Under 45 minutes per run on 2 idle CPU cores (README, "Budgets"): 8 GAN epochs of the full 141-batch
    # pass (1,128 iterations, ~1.6% of the full schedule), the CNN stage unchanged.
    "quick": {"gan_epochs": 8, "checkpoint_every": 2, "sample_interval": 282, "map_epochs": 2},
    # Seconds, for tests: 2 GAN epochs of 2 batches, 2 CNN epochs of 3 batches, 50 test images per class.
    # Sample grids at batch 0 only, 10 synthetic images per class.
    "smoke": {"gan_epochs": 2, "gan_steps_per_epoch": 2, "checkpoint_every": 1, "sample_interval": 10 ** 9,
              "synth_per_class": 10, "synth_chunk": 10,
              "cnn_epochs": 2, "cnn_steps_per_epoch": 3, "map_epochs": 1, "map_steps_per_epoch": 3,
              "map_samples_per_code": 10, "test_per_class": 50},
}
