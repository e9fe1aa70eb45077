# CaLeG (caleg_tf/): included by the top-level Makefile. Run from the repository root, e.g.
#   make reproduce-caleg-mnist-quick    3 seeds x ~20 min (2 idle CPU cores), then results/ and the report
#   make reproduce-caleg-mnist          5 seeds x 50 epochs (GPU work: ~56 h per seed on 2 CPU cores)
#   make bench-caleg                    training images/s and predicted full-budget wall time
# Each seed s trains on the DGC subset drawn with seed s (split seed = training seed = s), as the original's loop.

CALEG_RUN = cd caleg_tf && $(TF_PY) run.py --imbalance 1 --aug-rate 1 --out $(abspath $(RUN_OUT)) --data-root $(DATA_ROOT)

reproduce-caleg-mnist: env-caleg_tf
	$(CALEG_RUN) --dataset mnist --budget full --seeds 1,2,3,4,5
	$(call PUBLISH_AND_REPORT,$(RUN_OUT)/caleg/mnist-dgc-r1-split1-seed1-full)
	$(call PUBLISH_AND_REPORT,$(RUN_OUT)/caleg/mnist-dgc-r1-split2-seed2-full)
	$(call PUBLISH_AND_REPORT,$(RUN_OUT)/caleg/mnist-dgc-r1-split3-seed3-full)
	$(call PUBLISH_AND_REPORT,$(RUN_OUT)/caleg/mnist-dgc-r1-split4-seed4-full)
	$(call PUBLISH_AND_REPORT,$(RUN_OUT)/caleg/mnist-dgc-r1-split5-seed5-full)

reproduce-caleg-fmnist: env-caleg_tf
	$(CALEG_RUN) --dataset fashion --budget full --seeds 1,2,3,4,5
	$(call PUBLISH_AND_REPORT,$(RUN_OUT)/caleg/fashion-dgc-r1-split1-seed1-full)
	$(call PUBLISH_AND_REPORT,$(RUN_OUT)/caleg/fashion-dgc-r1-split2-seed2-full)
	$(call PUBLISH_AND_REPORT,$(RUN_OUT)/caleg/fashion-dgc-r1-split3-seed3-full)
	$(call PUBLISH_AND_REPORT,$(RUN_OUT)/caleg/fashion-dgc-r1-split4-seed4-full)
	$(call PUBLISH_AND_REPORT,$(RUN_OUT)/caleg/fashion-dgc-r1-split5-seed5-full)

reproduce-caleg-svhn: env-caleg_tf
	$(CALEG_RUN) --dataset svhn --budget full --seeds 1,2,3,4,5
	$(call PUBLISH_AND_REPORT,$(RUN_OUT)/caleg/svhn-dgc-r1-split1-seed1-full)
	$(call PUBLISH_AND_REPORT,$(RUN_OUT)/caleg/svhn-dgc-r1-split2-seed2-full)
	$(call PUBLISH_AND_REPORT,$(RUN_OUT)/caleg/svhn-dgc-r1-split3-seed3-full)
	$(call PUBLISH_AND_REPORT,$(RUN_OUT)/caleg/svhn-dgc-r1-split4-seed4-full)
	$(call PUBLISH_AND_REPORT,$(RUN_OUT)/caleg/svhn-dgc-r1-split5-seed5-full)

reproduce-caleg-cifar10: env-caleg_tf
	$(CALEG_RUN) --dataset cifar10 --budget full --seeds 1,2,3,4,5
	$(call PUBLISH_AND_REPORT,$(RUN_OUT)/caleg/cifar10-dgc-r1-split1-seed1-full)
	$(call PUBLISH_AND_REPORT,$(RUN_OUT)/caleg/cifar10-dgc-r1-split2-seed2-full)
	$(call PUBLISH_AND_REPORT,$(RUN_OUT)/caleg/cifar10-dgc-r1-split3-seed3-full)
	$(call PUBLISH_AND_REPORT,$(RUN_OUT)/caleg/cifar10-dgc-r1-split4-seed4-full)
	$(call PUBLISH_AND_REPORT,$(RUN_OUT)/caleg/cifar10-dgc-r1-split5-seed5-full)

reproduce-caleg-mnist-quick: env-caleg_tf
	$(CALEG_RUN) --dataset mnist --budget quick --seeds 1,2,3
	$(call PUBLISH_AND_REPORT,$(RUN_OUT)/caleg/mnist-dgc-r1-split1-seed1-quick)
	$(call PUBLISH_AND_REPORT,$(RUN_OUT)/caleg/mnist-dgc-r1-split2-seed2-quick)
	$(call PUBLISH_AND_REPORT,$(RUN_OUT)/caleg/mnist-dgc-r1-split3-seed3-quick)

reproduce-caleg-fmnist-quick: env-caleg_tf
	$(CALEG_RUN) --dataset fashion --budget quick --seeds 1,2,3
	$(call PUBLISH_AND_REPORT,$(RUN_OUT)/caleg/fashion-dgc-r1-split1-seed1-quick)
	$(call PUBLISH_AND_REPORT,$(RUN_OUT)/caleg/fashion-dgc-r1-split2-seed2-quick)
	$(call PUBLISH_AND_REPORT,$(RUN_OUT)/caleg/fashion-dgc-r1-split3-seed3-quick)

reproduce-caleg-svhn-quick: env-caleg_tf
	$(CALEG_RUN) --dataset svhn --budget quick --seeds 1,2,3
	$(call PUBLISH_AND_REPORT,$(RUN_OUT)/caleg/svhn-dgc-r1-split1-seed1-quick)
	$(call PUBLISH_AND_REPORT,$(RUN_OUT)/caleg/svhn-dgc-r1-split2-seed2-quick)
	$(call PUBLISH_AND_REPORT,$(RUN_OUT)/caleg/svhn-dgc-r1-split3-seed3-quick)

reproduce-caleg-cifar10-quick: env-caleg_tf
	$(CALEG_RUN) --dataset cifar10 --budget quick --seeds 1,2,3
	$(call PUBLISH_AND_REPORT,$(RUN_OUT)/caleg/cifar10-dgc-r1-split1-seed1-quick)
	$(call PUBLISH_AND_REPORT,$(RUN_OUT)/caleg/cifar10-dgc-r1-split2-seed2-quick)
	$(call PUBLISH_AND_REPORT,$(RUN_OUT)/caleg/cifar10-dgc-r1-split3-seed3-quick)

bench-caleg: env-caleg_tf
	cd caleg_tf && $(TF_PY) bench.py --dataset mnist
	cd caleg_tf && $(TF_PY) bench.py --dataset svhn --iters 2

.PHONY: bench-caleg reproduce-caleg-mnist reproduce-caleg-fmnist reproduce-caleg-svhn reproduce-caleg-cifar10 reproduce-caleg-mnist-quick reproduce-caleg-fmnist-quick reproduce-caleg-svhn-quick reproduce-caleg-cifar10-quick
