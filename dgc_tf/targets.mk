# DGC (CVPR 2020), tf.compat.v1 port: reproductions and benchmark (included by the top-level Makefile).
#   make reproduce-dgc-mnist DGC_SPLIT_SEED=2     one split seed (the paper's five subsets: split seeds 1-5)
# Re-running a target resumes the run from its last checkpoint, or only publishes it once it has finished.
DGC_SPLIT_SEED ?= 1
DGC_SEED ?= 0
DGC_RUN = $(TF_PY) dgc_tf/run.py --data-root $(DATA_ROOT) --out $(RUN_OUT) --split-seed $(DGC_SPLIT_SEED) \
  --seed $(DGC_SEED)
# run folder written by run.py for <dataset> and <budget> (records.run_name)
dgc_run_dir = $(RUN_OUT)/dgc/$(1)-dgc-split$(DGC_SPLIT_SEED)-seed$(DGC_SEED)-$(2)

.PHONY: reproduce-dgc-mnist reproduce-dgc-fmnist reproduce-dgc-svhn reproduce-dgc-mnist-quick \
        reproduce-dgc-fmnist-quick reproduce-dgc-svhn-quick bench-dgc

reproduce-dgc-mnist: env-dgc_tf
	$(DGC_RUN) --dataset mnist --budget full
	$(call PUBLISH_AND_REPORT,$(call dgc_run_dir,mnist,full))

reproduce-dgc-fmnist: env-dgc_tf
	$(DGC_RUN) --dataset fashion --budget full
	$(call PUBLISH_AND_REPORT,$(call dgc_run_dir,fashion,full))

reproduce-dgc-svhn: env-dgc_tf
	$(DGC_RUN) --dataset svhn --budget full
	$(call PUBLISH_AND_REPORT,$(call dgc_run_dir,svhn,full))

reproduce-dgc-mnist-quick: env-dgc_tf
	$(DGC_RUN) --dataset mnist --budget quick
	$(call PUBLISH_AND_REPORT,$(call dgc_run_dir,mnist,quick))

reproduce-dgc-fmnist-quick: env-dgc_tf
	$(DGC_RUN) --dataset fashion --budget quick
	$(call PUBLISH_AND_REPORT,$(call dgc_run_dir,fashion,quick))

reproduce-dgc-svhn-quick: env-dgc_tf
	$(DGC_RUN) --dataset svhn --budget quick
	$(call PUBLISH_AND_REPORT,$(call dgc_run_dir,svhn,quick))

# training images/s, prediction images/s, predicted full-budget wall time on this machine
bench-dgc: env-dgc_tf
	$(TF_PY) dgc_tf/bench.py --data-root $(DATA_ROOT)
