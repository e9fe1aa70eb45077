"""GAMO on MNIST, pixel space (``dense_gamo_main.py``): the 784-d MLP variant.

Command: ``make reproduce-gamo-mnist`` (= ``run.py --dataset mnist --protocol gamo --split-seed 0 --budget full``).
Reproduces: no GAMO-paper number is available here; with ``--protocol dgc`` the DGC paper's re-run of GAMO gives
ACSA 0.8826 (paper_tables/dgc_cvpr2020.csv).
Budgets: full = 25,000 iterations (50,000 steps, the released schedule): 7-10 min on a 2-core AMD EPYC CPU
(``wall_time_s`` of results/gamo/mnist-gamo-gamo-split0-seed{0,1,2}-full); quick = 2,500 iterations (every constant
the same, only max_step is 10x smaller); smoke = 20 iterations with evaluation every 10 (tests only; numbers
meaningless).
"""

BASE = dict(
    dataset="mnist",
    variant="dense",
    image_shape=(28, 28, 1),
    description="GAMO, MNIST, pixel-space MLP variant (dense_net.py / dense_gamo_main.py)",
)

BUDGETS = {
    "full": dict(max_step=50000, expected_runtime={"cpu_2_cores": "7-10 min (AMD EPYC, results/gamo/mnist-gamo-*)"}),
    "quick": dict(max_step=5000, save_every_steps=2500, expected_runtime={"cpu_2_cores": "about a tenth of full"}),
    "smoke": dict(max_step=40, eval_every_steps=20, save_every_steps=20, gamo2pix_steps=10,
                  gamo2pix_save_every=10, expected_runtime={"cpu_2_cores": "under 1 min"}),
}
