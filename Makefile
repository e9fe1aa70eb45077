# One entry point for set-up, data, tests, reproductions and the results report.
#   make test                      every test suite, each in its own environment (environments are made on demand)
#   make reproduce-gamo-fmnist     GAMO on Fashion-MNIST at the paper's budget, then the comparison table
#   make report                    results/**/result.json beside the papers' tables, into README.md
#   make benchmark PLAN=quick      every method of benchmark/plans/quick.toml on the same splits (benchmark/)
# Method folders declare their runs in <folder>/targets.mk: `REPRODUCE.<name> := <folder> <run.py arguments>`
# makes `make reproduce-<name>` (one generic rule below), plus their bench-* targets.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
export VENVS ?= .venvs
DATA_ROOT ?= $(abspath data)
RUN_OUT ?= runs
RESULTS ?= results
# Offline copies of the canonical files: the sibling ../shared/data when it exists (development and CI).
SHARED_DATA_MIRROR ?= $(if $(wildcard ../shared/data/mnist),$(abspath ../shared/data),)
export SHARED_DATA_MIRROR
export SHARED_DATA_ROOT := $(DATA_ROOT)
export MPLBACKEND := Agg
export TF_CPP_MIN_LOG_LEVEL ?= 2

SUBPROJECTS := gamo_keras dgc_tf caleg_tf imsic_torch dfg_torch
# Every folder with its own environment: the methods and the benchmark runner.
ENVIRONMENTS := $(SUBPROJECTS) benchmark
# $(shell) does not see make's exported variables (make < 4.4): pass VENVS on explicitly.
env_dir = $(shell VENVS='$(VENVS)' environments/env.sh --path $(1))
# The Python of a folder's own environment: $(call env_py,dgc_tf)
env_py = $(if $(1),$(abspath $(call env_dir,$(1)))/bin/python)
TF_PY = $(call env_py,gamo_keras)
BENCH_PY = $(call env_py,benchmark)
# make benchmark PLAN=<name of benchmark/plans/<name>.toml, or a plan file> BENCH_FLAGS="--cluster slurm --jobs 2"
PLAN ?= smoke
BENCH_FLAGS ?=
SPLIT_FLAGS = --data-root $(DATA_ROOT)
# Every distinct environment (identical pins share one), for the shared_data suite.
ENV_KEYS := gamo_keras imsic_torch
REPORTS := .test-reports

.PHONY: help envs data test test-repo test-shared test-subprojects test-split-identity test-benchmark report \
        benchmark clean-envs $(addprefix env-,$(ENVIRONMENTS))

help:
	@echo "make test                    all tests (creates the environments on first use)"
	@echo "make reproduce-gamo-fmnist   GAMO on Fashion-MNIST, full budget, then the comparison table"
	@echo "make data                    fetch and verify MNIST and Fashion-MNIST into $(DATA_ROOT)"
	@echo "make report                  regenerate the results section of README.md"
	@echo "make benchmark PLAN=smoke    every method of a plan (smoke, quick, full) on the same splits"
	@echo "make envs                    create every environment"
	@for name in $(sort $(patsubst REPRODUCE.%,%,$(filter REPRODUCE.%,$(.VARIABLES)))); do \
	  echo "make reproduce-$$name"; done
	@{ $(MAKE) --no-print-directory -pRrq -f $(firstword $(MAKEFILE_LIST)) : 2>/dev/null || true; } | \
	  grep -o '^bench-[a-z0-9-]*:' | tr -d ':' | sort -u | sed 's/^/make /'

$(addprefix env-,$(ENVIRONMENTS)): env-%:
	@environments/env.sh $* >/dev/null

envs: $(addprefix env-,$(ENVIRONMENTS))

data: env-gamo_keras
	$(TF_PY) -m shared_data fetch --dataset mnist fashion --copy

# ---- tests ------------------------------------------------------------------------------------------------
test:
	@rm -rf $(REPORTS) && mkdir -p $(REPORTS)
	@$(MAKE) --no-print-directory test-repo test-shared test-subprojects test-split-identity test-benchmark
	@$(call env_dir,gamo_keras)/bin/python environments/test_summary.py $(REPORTS)

# Repository checks: environment files, README commands that must exist as targets.
# ... and the contract test, which runs the smoke plan through the benchmark runner (submitit, local processes):
# every run.py at the smoke budget in that folder's own environment.
test-repo: $(addprefix env-,$(ENVIRONMENTS))
	@echo "== repository tests"
	@$(TF_PY) -m pytest -q -p no:cacheprovider tests --junitxml=$(REPORTS)/repository.xml

# shared_data's suite in every distinct environment: the golden split hash it checks proves that every
# environment writes the same bytes.
test-shared: $(addprefix env-,$(ENV_KEYS))
	@for key in $(ENV_KEYS); do \
	  py=$$(environments/env.sh --path $$key)/bin/python; \
	  echo "== shared_data tests in $$($$py -c 'import sys; print(sys.prefix)')"; \
	  $$py -m pytest -q -p no:cacheprovider shared_data/tests --junitxml=$(REPORTS)/shared-$$key.xml; \
	done

# Each method's suite in its own environment (slow tests excluded: pytest -m slow runs them).
test-subprojects: $(addprefix env-,$(SUBPROJECTS))
	@for sub in $(SUBPROJECTS); do \
	  [ -d $$sub/tests ] || continue; \
	  py=$$(cd $$(environments/env.sh --path $$sub) && pwd)/bin/python; \
	  echo "== $$sub tests"; \
	  (cd $$sub && $$py -m pytest -q -p no:cacheprovider -m "not slow" tests --junitxml=$(CURDIR)/$(REPORTS)/$$sub.xml); \
	done

# The same split written from two environments must be byte-identical, file by file.
test-split-identity: $(addprefix env-,$(ENV_KEYS))
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	for key in $(ENV_KEYS); do \
	  $$(environments/env.sh --path $$key)/bin/python -m shared_data split --dataset fashion --protocol gamo \
	    --split-seed 0 --out $$tmp/$$key --data-root $$tmp/data-$$key >/dev/null; \
	done; \
	set -- $(ENV_KEYS); first=$$1; shift; \
	for key in "$$@"; do diff -r $$tmp/$$first $$tmp/$$key; done; \
	echo "== split bytes identical across environments: $(ENV_KEYS)"; \
	echo '<testsuite tests="1" failures="0" errors="0" skipped="0"/>' > $(REPORTS)/split-identity.xml

# The benchmark runner's own suite in its environment: plans, the local engine on fake methods (skip, failure,
# a killed run re-run), the Slurm path with fake sbatch/srun/sacct/squeue, the CSV and README section.
test-benchmark: env-benchmark
	@echo "== benchmark tests"
	@$(BENCH_PY) -m pytest -q -p no:cacheprovider benchmark/tests --junitxml=$(REPORTS)/benchmark.xml

# ---- results ----------------------------------------------------------------------------------------------
report: env-gamo_keras
	$(TF_PY) -m shared_data report --results $(RESULTS) --paper-tables paper_tables --plot-dir $(RESULTS) \
	  --markdown $(RESULTS)/README.md --write-readme README.md --repo .

# make reproduce-<name>: `REPRODUCE.<name> := <folder> <run.py arguments>` (from <folder>/targets.mk) runs
# <folder>/run.py in <folder>'s own environment, publishes the finished run into results/, regenerates the report.
# Re-running resumes an interrupted run, or only republishes a finished one.
reproduce-%:
	@[ -n "$(REPRODUCE.$*)" ] || { echo "make: no reproduce-$* (make help lists them)" >&2; exit 2; }
	@$(MAKE) --no-print-directory env-$(firstword $(REPRODUCE.$*))
	cd $(firstword $(REPRODUCE.$*)) && $(call env_py,$(firstword $(REPRODUCE.$*))) run.py \
	  $(wordlist 2,1000,$(REPRODUCE.$*)) --out $(abspath $(RUN_OUT)) --data-root $(DATA_ROOT) \
	  --publish $(abspath $(RESULTS))
	@$(MAKE) --no-print-directory report

# Every run of a plan not yet published under results/ (interrupted ones resume), each in its folder's environment;
# then results/benchmark/$(PLAN).csv, its per-class recall plot and README.md's benchmark section.
benchmark: envs
	$(BENCH_PY) -m benchmark run $(PLAN) --runs $(abspath $(RUN_OUT)) --data-root $(DATA_ROOT) \
	  --results $(abspath $(RESULTS)) --readme README.md $(BENCH_FLAGS)

clean-envs:
	rm -rf $(VENVS)

-include $(wildcard */targets.mk)
