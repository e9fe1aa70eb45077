# CaLeG (caleg_tf/): included by the top-level Makefile. Run from the repository root, e.g.
#   make reproduce-caleg-mnist-quick    3 seeds x ~20 min (2 idle CPU cores), then results/ and the report
#   make reproduce-caleg-mnist          5 seeds x 50 epochs (GPU work: ~56 h per seed on 2 CPU cores)
#   make bench-caleg                    training images/s and predicted full-budget wall time
# Each seed s trains on the DGC subset drawn with seed s (split seed = training seed = s), as the original's loop.

CALEG_RUN = cd caleg_tf && $(TF_PY) run.py --imbalance 1 --aug-rate 1 --out $(abspath $(RUN_OUT)) --data-root $(DATA_ROOT)

CALEG_SEEDS_full := 1,2,3,4,5
CALEG_SEEDS_quick := 1,2,3
caleg_run_dirs = $(foreach s,$(subst $(comma), ,$(CALEG_SEEDS_$(2))),$(RUN_OUT)/caleg/$(1)-dgc-r1-split$(s)-seed$(s)-$(2))
comma := ,

# reproduce-caleg-<name>[-quick]: train <dataset> on every seed of the budget, publish each seed's result.json,
# then regenerate the report once.
define caleg_target
reproduce-caleg-$(1)$(if $(filter quick,$(3)),-quick): env-caleg_tf
	$$(CALEG_RUN) --dataset $(2) --budget $(3) --seeds $$(CALEG_SEEDS_$(3))
	$$(TF_PY) -m shared_data publish $$(call caleg_run_dirs,$(2),$(3)) --results $$(RESULTS)
	$$(MAKE) --no-print-directory report
endef
$(foreach budget,full quick,$(foreach pair,mnist:mnist fmnist:fashion svhn:svhn cifar10:cifar10,\
  $(eval $(call caleg_target,$(word 1,$(subst :, ,$(pair))),$(word 2,$(subst :, ,$(pair))),$(budget)))))

bench-caleg: env-caleg_tf
	cd caleg_tf && $(TF_PY) bench.py --dataset mnist
	cd caleg_tf && $(TF_PY) bench.py --dataset svhn --iters 2

.PHONY: bench-caleg reproduce-caleg-mnist reproduce-caleg-fmnist reproduce-caleg-svhn reproduce-caleg-cifar10 reproduce-caleg-mnist-quick reproduce-caleg-fmnist-quick reproduce-caleg-svhn-quick reproduce-caleg-cifar10-quick
