# DGC (CVPR 2020), tf.compat.v1 port: reproductions and benchmark (included by the top-level Makefile).
# Each REPRODUCE.<name> line makes `make reproduce-<name>`: the Makefile runs dgc_tf's run.py with these
# arguments in the folder's environment, publishes the result into results/ and regenerates the report.
# Re-running a target resumes the run from its last checkpoint, or only publishes it once it has finished.
#   make reproduce-dgc-mnist DGC_SPLIT_SEED=2     one split seed (the paper's five subsets: split seeds 1-5)
DGC_SPLIT_SEED ?= 1
DGC_SEED ?= 0
DGC_SEEDS := --split-seed $(DGC_SPLIT_SEED) --seed $(DGC_SEED)

REPRODUCE.dgc-mnist := dgc_tf --dataset mnist --budget full $(DGC_SEEDS)
REPRODUCE.dgc-fmnist := dgc_tf --dataset fashion --budget full $(DGC_SEEDS)
REPRODUCE.dgc-svhn := dgc_tf --dataset svhn --budget full $(DGC_SEEDS)
REPRODUCE.dgc-mnist-quick := dgc_tf --dataset mnist --budget quick $(DGC_SEEDS)
REPRODUCE.dgc-fmnist-quick := dgc_tf --dataset fashion --budget quick $(DGC_SEEDS)
REPRODUCE.dgc-svhn-quick := dgc_tf --dataset svhn --budget quick $(DGC_SEEDS)

.PHONY: bench-dgc
# training images/s, prediction images/s, predicted full-budget wall time on this machine
bench-dgc: env-dgc_tf
	$(call env_py,dgc_tf) dgc_tf/bench.py --data-root $(DATA_ROOT)
