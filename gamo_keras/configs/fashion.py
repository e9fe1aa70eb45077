"""GAMO on Fashion-MNIST in the 512-d feature space of the CNN F (``fashion_mnist_gamo_main.py``), and the
separate GAMO2pix stage (``fashion_mnist_gamo2pix_main.py``).

Command: ``make reproduce-gamo-fmnist`` (= ``run.py --dataset fashion --protocol gamo --split-seed 0
--budget full``). Reproduces: no GAMO-paper number is available here; with ``--protocol dgc`` the DGC paper's
re-run of GAMO gives ACSA 0.7929 (paper_tables/dgc_cvpr2020.csv).
Budgets: full = 25,000 iterations in 89 outer epochs (F epoch, features, one GAMO pass): 14-19 min on a 2-core
AMD EPYC CPU (``wall_time_s`` of results/gamo/fashion-*-full); quick = 2,500 iterations (9 outer epochs), every
constant the same; smoke = 20 iterations.
GAMO2pix (``--stage gamo2pix``): 25,000 steps per minority class at full budget (the released value),
2,000 at quick.
"""

BASE = dict(
    dataset="fashion",
    variant="conv",
    image_shape=(28, 28, 1),
    description="GAMO, Fashion-MNIST, conv feature variant (fashion_mnist_net.py / fashion_mnist_gamo_main.py)",
)

BUDGETS = {
    "full": dict(max_step=50000, expected_runtime={"cpu_2_cores": "14-19 min (AMD EPYC, results/gamo/fashion-*)"}),
    "quick": dict(max_step=5000, save_every_steps=2500, gamo2pix_steps=2000,
                  expected_runtime={"cpu_2_cores": "about a tenth of full"}),
    "smoke": dict(max_step=40, eval_every_steps=20, save_every_steps=20, gamo2pix_steps=10,
                  gamo2pix_save_every=10, gamo2pix_preview_every=10,
                  expected_runtime={"cpu_2_cores": "under 1 min"}),
}
