"""MNIST, the released pipeline (fudonglin/IMSIC@649abbd).

    python run.py --dataset mnist                   # full: 500 GAN epochs (70,500 iterations), CNN 8 epochs
    python run.py --dataset mnist --budget quick    # 8 GAN epochs, CNN 8 epochs: under 45 min on 2 CPU cores

No published IMSIC number is available (the paper's tables could not be read), so there is no table cell to
reach. The full budget is GPU work: about 17 h of GAN training at 100 GFLOP/s (README, "Budgets").
"""
CONFIG = {
    "dataset": "mnist",
    "code_dim": 4,  # params.py L29
    "cnn_epochs": 8,  # README command: main.py --dataset mnist --epochs 8
    # generation (source/utils.py L227-240): z ~ N(0, 0.5^2), every continuous code 0; numpy re-seeded per class
    "gen_z_std": 0.5,
    "gen_code": "zeros",
    "hardcoded_map": [6, 1, 4, 9, 0, 8, 5, 2, 7, 3],  # class -> categorical code (utils.py L328)
}
