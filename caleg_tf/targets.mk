# CaLeG (caleg_tf/): included by the top-level Makefile. Run from the repository root, e.g.
#   make reproduce-caleg-mnist-quick    3 seeds x ~20 min (2 idle CPU cores), then results/ and the report
#   make reproduce-caleg-mnist          5 seeds x 50 epochs (GPU work: ~56 h per seed on 2 CPU cores)
#   make reproduce-caleg-mnist-fixes-quick   every variant of caleg_tf/fix_grid.txt on 3 seeds (~13 x 1 h on CPU)
#   make bench-caleg                    training images/s and predicted full-budget wall time
# Each seed s trains on the DGC subset drawn with seed s (split seed = training seed = s), as the original's loop.

CALEG_RUN = cd caleg_tf && $(TF_PY) run.py --imbalance 1 --aug-rate 1 --out $(abspath $(RUN_OUT)) --data-root $(DATA_ROOT) \
  --publish $(abspath $(RESULTS))

CALEG_SEEDS_full := 1,2,3,4,5
CALEG_SEEDS_quick := 1,2,3

# reproduce-caleg-<name>[-quick]: train <dataset> on every seed of the budget; run.py --publish copies each seed's
# result.json into results/ as soon as that seed finishes; then the report is regenerated once.
define caleg_target
reproduce-caleg-$(1)$(if $(filter quick,$(3)),-quick): env-caleg_tf
	$$(CALEG_RUN) --dataset $(2) --budget $(3) --seeds $$(CALEG_SEEDS_$(3))
	$$(MAKE) --no-print-directory report
endef
$(foreach budget,full quick,$(foreach pair,mnist:mnist fmnist:fashion svhn:svhn cifar10:cifar10,\
  $(eval $(call caleg_target,$(word 1,$(subst :, ,$(pair))),$(word 2,$(subst :, ,$(pair))),$(budget)))))

# reproduce-caleg-<name>-fixes-quick: every variant of fix_grid.txt (faithful, --aug-rate 0, each fix) on the quick
# seeds, one after another; re-running resumes or skips what has finished.
define caleg_fixes_target
reproduce-caleg-$(1)-fixes-quick: env-caleg_tf
	sed -e 's/#.*//' -e '/^[[:space:]]*$$$$/d' caleg_tf/fix_grid.txt | while read -r flags; do \
	  [ "$$$$flags" = "-" ] && flags=; \
	  ( $$(CALEG_RUN) --dataset $(2) --budget quick --seeds $$(CALEG_SEEDS_quick) $$$$flags ) || exit 1; \
	done
	$$(MAKE) --no-print-directory report
endef
$(eval $(call caleg_fixes_target,mnist,mnist))
$(eval $(call caleg_fixes_target,fmnist,fashion))

bench-caleg: env-caleg_tf
	cd caleg_tf && $(TF_PY) bench.py --dataset mnist
	cd caleg_tf && $(TF_PY) bench.py --dataset svhn --iters 2

.PHONY: reproduce-caleg-mnist-fixes-quick reproduce-caleg-fmnist-fixes-quick
.PHONY: bench-caleg reproduce-caleg-mnist reproduce-caleg-fmnist reproduce-caleg-svhn reproduce-caleg-cifar10 reproduce-caleg-mnist-quick reproduce-caleg-fmnist-quick reproduce-caleg-svhn-quick reproduce-caleg-cifar10-quick
