# GAMO (gamo_keras/): included by the top-level Makefile. Full budget = the released schedule (25,000
# iterations); quick = the same with max_step / 10 (results not published); GAMO_SEED picks the training seed.
GAMO_SEED ?= 0
# Protocol gamo: split seed 0. Protocol dgc: the DGC paper's subsets are split seeds 1-5 (DGC's default is 1),
# so GAMO's -dgc rows sit on the same subsets as DGC's own runs (GAMO_DGC_SPLIT_SEED=2 for the next one).
GAMO_DGC_SPLIT_SEED ?= 1
GAMO_BASE = $(TF_PY) gamo_keras/run.py --out $(RUN_OUT) --data-root $(DATA_ROOT) --seed $(GAMO_SEED)
GAMO_RUN = $(GAMO_BASE) --split-seed 0
GAMO_DGC_RUN = $(GAMO_BASE) --split-seed $(GAMO_DGC_SPLIT_SEED)

.PHONY: reproduce-gamo-mnist reproduce-gamo-fmnist reproduce-gamo-mnist-quick reproduce-gamo-fmnist-quick \
        reproduce-gamo-mnist-baseline reproduce-gamo-fmnist-baseline reproduce-gamo-mnist-dgc \
        reproduce-gamo-fmnist-dgc reproduce-gamo2pix-fmnist bench-gamo

# GAMO on MNIST, protocol gamo, full budget (about 6-7 min on 2 CPU cores, estimate), then the comparison table.
reproduce-gamo-mnist: env-gamo_keras
	$(GAMO_RUN) --dataset mnist --protocol gamo --budget full
	$(call PUBLISH_AND_REPORT,$(RUN_OUT)/gamo/mnist-gamo-split0-seed$(GAMO_SEED)-full)

# GAMO on Fashion-MNIST (conv feature variant), protocol gamo, full budget (about 16 min on 2 CPU cores, estimate).
reproduce-gamo-fmnist: env-gamo_keras
	$(GAMO_RUN) --dataset fashion --protocol gamo --budget full
	$(call PUBLISH_AND_REPORT,$(RUN_OUT)/gamo/fashion-gamo-split0-seed$(GAMO_SEED)-full)

# Quick budget: same networks and losses, 2,500 iterations (1-2 min); prints the run's result, not published.
reproduce-gamo-mnist-quick: env-gamo_keras
	$(GAMO_RUN) --dataset mnist --protocol gamo --budget quick

reproduce-gamo-fmnist-quick: env-gamo_keras
	$(GAMO_RUN) --dataset fashion --protocol gamo --budget quick

# The baseline the original shipped and later deleted: classifier M alone, 50,000 batch steps.
reproduce-gamo-mnist-baseline: env-gamo_keras
	$(GAMO_RUN) --dataset mnist --protocol gamo --budget full --model baseline
	$(call PUBLISH_AND_REPORT,$(RUN_OUT)/gamo/mnist-gamo-baseline-split0-seed$(GAMO_SEED)-full)

reproduce-gamo-fmnist-baseline: env-gamo_keras
	$(GAMO_RUN) --dataset fashion --protocol gamo --budget full --model baseline
	$(call PUBLISH_AND_REPORT,$(RUN_OUT)/gamo/fashion-gamo-baseline-split0-seed$(GAMO_SEED)-full)

# Protocol dgc (full official test set): how the DGC paper re-ran GAMO (MNIST ACSA 0.8826, Fashion 0.7929).
reproduce-gamo-mnist-dgc: env-gamo_keras
	$(GAMO_DGC_RUN) --dataset mnist --protocol dgc --budget full
	$(call PUBLISH_AND_REPORT,$(RUN_OUT)/gamo/mnist-dgc-split$(GAMO_DGC_SPLIT_SEED)-seed$(GAMO_SEED)-full)

reproduce-gamo-fmnist-dgc: env-gamo_keras
	$(GAMO_DGC_RUN) --dataset fashion --protocol dgc --budget full
	$(call PUBLISH_AND_REPORT,$(RUN_OUT)/gamo/fashion-dgc-split$(GAMO_DGC_SPLIT_SEED)-seed$(GAMO_SEED)-full)

# GAMO2pix on the finished Fashion-MNIST run: 9 per-class decoders, 25,000 steps each (45-90 min on 2 CPU cores).
reproduce-gamo2pix-fmnist: env-gamo_keras
	$(GAMO_RUN) --dataset fashion --protocol gamo --budget full --stage gamo2pix

# ms per GAMO iteration: naive train_on_batch vs fused compiled functions; Fashion's outer epoch.
bench-gamo: env-gamo_keras
	$(TF_PY) gamo_keras/bench.py --data-root $(DATA_ROOT)
