# CaLeG (caleg_tf/): reproduce targets for the top-level Makefile's reproduce-% rule, which runs
# `cd caleg_tf && <environment python> run.py <arguments> --out ... --data-root ... --publish results`, then the
# report. Each seed s trains on the DGC subset drawn with seed s (split seed = training seed = s), as the
# original's loop over seeds 1-5 does (run.py L60-64 of anonymous184/CaLeG@096caad).
REPRODUCE.caleg-mnist := caleg_tf --dataset mnist --imbalance 1 --aug-rate 1 --budget full --seeds 1,2,3,4,5
REPRODUCE.caleg-fmnist := caleg_tf --dataset fashion --imbalance 1 --aug-rate 1 --budget full --seeds 1,2,3,4,5
REPRODUCE.caleg-svhn := caleg_tf --dataset svhn --imbalance 1 --aug-rate 1 --budget full --seeds 1,2,3,4,5
REPRODUCE.caleg-cifar10 := caleg_tf --dataset cifar10 --imbalance 1 --aug-rate 1 --budget full --seeds 1,2,3,4,5
REPRODUCE.caleg-mnist-quick := caleg_tf --dataset mnist --imbalance 1 --aug-rate 1 --budget quick --seeds 1,2,3
REPRODUCE.caleg-fmnist-quick := caleg_tf --dataset fashion --imbalance 1 --aug-rate 1 --budget quick --seeds 1,2,3
REPRODUCE.caleg-svhn-quick := caleg_tf --dataset svhn --imbalance 1 --aug-rate 1 --budget quick --seeds 1,2,3
REPRODUCE.caleg-cifar10-quick := caleg_tf --dataset cifar10 --imbalance 1 --aug-rate 1 --budget quick --seeds 1,2,3
# every line of fix_grid.txt (faithful, --aug-rate 0, --aug-rate 2, each fix) on the quick seeds, one after another
REPRODUCE.caleg-mnist-fixes-quick := caleg_tf --dataset mnist --imbalance 1 --aug-rate 1 --budget quick --seeds 1,2,3 --grid fix_grid.txt
REPRODUCE.caleg-fmnist-fixes-quick := caleg_tf --dataset fashion --imbalance 1 --aug-rate 1 --budget quick --seeds 1,2,3 --grid fix_grid.txt

# training images/s and the predicted full-budget wall time (CPU measured, GPU estimated)
bench-caleg: env-caleg_tf
	cd caleg_tf && $(call env_py,caleg_tf) bench.py --dataset mnist
	cd caleg_tf && $(call env_py,caleg_tf) bench.py --dataset svhn --iters 2

.PHONY: bench-caleg
