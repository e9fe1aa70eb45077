"""GAMO on Fashion-MNIST in the 512-d feature space of the CNN F (``fashion_mnist_gamo_main.py``), and the
separate GAMO2pix stage (``fashion_mnist_gamo2pix_main.py``).

Command: ``make reproduce-gamo-fmnist`` (= ``run.py --dataset fashion --protocol gamo --split-seed 0
--budget full``). Reproduces: no GAMO-paper number is available here; with ``--protocol dgc`` the DGC paper's
re-run of GAMO gives ACSA 0.7929 (paper_tables/dgc_cvpr2020.csv).
Budgets: full = 25,000 iterations in 89 outer epochs (F epoch, features, one GAMO pass): 10-15 min on a 2-core
CPU; quick = 2,500 iterations (9 outer epochs), every constant the same; smoke = 20 iterations.
GAMO2pix (``--stage gamo2pix``): 25,000 steps per minority class at full budget (the released value),
2,000 at quick.
"""
from .mnist import CONFIG as _MNIST

# fashion_mnist_gamo_main.py has every constant of dense_gamo_main.py (mnist.py); it runs in F's feature space
CONFIG = dict(
    _MNIST,
    dataset="fashion",
    variant="conv",  # "dense": pixel-space MLP; "conv": features of the CNN F
    image_shape=(28, 28, 1),
    description="GAMO, Fashion-MNIST, conv feature variant (fashion_mnist_net.py / fashion_mnist_gamo_main.py)",
    expected_runtime={"cpu_2_cores": "14-19 min (AMD EPYC, results/gamo/fashion-*)"},
)

BUDGETS = {
    "quick": dict(max_step=5000, save_every_steps=2500, gamo2pix_steps=2000,
                  expected_runtime={"cpu_2_cores": "about a tenth of full"}),
    "smoke": dict(max_step=40, eval_every_steps=20, save_every_steps=20, gamo2pix_steps=10,
                  gamo2pix_save_every=10, gamo2pix_preview_every=10,
                  expected_runtime={"cpu_2_cores": "under 1 min"}),
}
