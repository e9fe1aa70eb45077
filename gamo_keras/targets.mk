# GAMO (gamo_keras/): included by the top-level Makefile, whose reproduce-% rule runs
#   cd gamo_keras && <its environment's python> run.py <the arguments below> --out ... --data-root ... --publish results
# and then `make report`. Full budget = the released schedule (25,000 iterations); quick = max_step / 10.
# GAMO_SEED picks the training seed (make reproduce-gamo-fmnist GAMO_SEED=1).
GAMO_SEED ?= 0
# Protocol dgc: the DGC paper's subsets are split seeds 1-5 (DGC's default is 1), so the -dgc runs sit on the same
# subsets as DGC's own runs (GAMO_DGC_SPLIT_SEED=2 for the next one).
GAMO_DGC_SPLIT_SEED ?= 1

REPRODUCE.gamo-mnist := gamo_keras --dataset mnist --protocol gamo --split-seed 0 --seed $(GAMO_SEED) --budget full
REPRODUCE.gamo-fmnist := gamo_keras --dataset fashion --protocol gamo --split-seed 0 --seed $(GAMO_SEED) --budget full
REPRODUCE.gamo-mnist-quick := gamo_keras --dataset mnist --protocol gamo --split-seed 0 --seed $(GAMO_SEED) --budget quick
REPRODUCE.gamo-fmnist-quick := gamo_keras --dataset fashion --protocol gamo --split-seed 0 --seed $(GAMO_SEED) --budget quick
REPRODUCE.gamo-mnist-baseline := gamo_keras --dataset mnist --protocol gamo --split-seed 0 --seed $(GAMO_SEED) --budget full --model baseline
REPRODUCE.gamo-fmnist-baseline := gamo_keras --dataset fashion --protocol gamo --split-seed 0 --seed $(GAMO_SEED) --budget full --model baseline
REPRODUCE.gamo-mnist-dgc := gamo_keras --dataset mnist --protocol dgc --split-seed $(GAMO_DGC_SPLIT_SEED) --seed $(GAMO_SEED) --budget full
REPRODUCE.gamo-fmnist-dgc := gamo_keras --dataset fashion --protocol dgc --split-seed $(GAMO_DGC_SPLIT_SEED) --seed $(GAMO_SEED) --budget full
REPRODUCE.gamo-mnist-baseline-dgc := gamo_keras --dataset mnist --protocol dgc --split-seed $(GAMO_DGC_SPLIT_SEED) --seed $(GAMO_SEED) --budget full --model baseline
REPRODUCE.gamo-fmnist-baseline-dgc := gamo_keras --dataset fashion --protocol dgc --split-seed $(GAMO_DGC_SPLIT_SEED) --seed $(GAMO_SEED) --budget full --model baseline
REPRODUCE.gamo2pix-fmnist := gamo_keras --dataset fashion --protocol gamo --split-seed 0 --seed $(GAMO_SEED) --budget full --stage gamo2pix

.PHONY: bench-gamo
# ms per GAMO iteration: naive train_on_batch vs fused compiled functions; Fashion's outer epoch.
bench-gamo: env-gamo_keras
	$(call env_py,gamo_keras) gamo_keras/bench.py --data-root $(DATA_ROOT)
