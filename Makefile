# One entry point for set-up, data, tests, reproductions and the results report.
#   make test                      every test suite, each in its own environment (environments are made on demand)
#   make reproduce-gamo-fmnist     GAMO on Fashion-MNIST at the paper's budget, then the comparison table
#   make report                    results/**/result.json beside the papers' tables (and the benchmark tables), into README.md
#   make benchmark PLAN=quick      every method of benchmark/plans/quick.toml on the same splits (benchmark/)
#   make envs GPU=1                the CUDA environments (GPU=1 works with every target that uses an environment)
#   make help                      every target with one line on what it does (its `## ` comment below)
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
# GPU=1: the CUDA variant of every environment (environments/<folder>/requirements-gpu.lock). Exported, so every
# environments/env.sh that a recipe or the benchmark runner calls picks the same variant.
GPU ?=
export GPU
ENV_FLAGS := $(if $(filter 1,$(GPU)),--gpu)
# $(shell) does not see make's exported variables (make < 4.4): pass VENVS and GPU on explicitly.
env_dir = $(shell VENVS='$(VENVS)' GPU='$(GPU)' environments/env.sh --path $(1))
# The lock file a folder's environment is installed from (make -n envs [GPU=1] shows them)
env_lock = $(shell GPU='$(GPU)' environments/env.sh --lock $(1))
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
# make test runs its suites TEST_JOBS at a time (default: the number of cores, at most 4), longest first, each
# suite's output printed whole when it ends; the suites share no files, and every result is the same as one at a time.
TEST_JOBS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); echo $$(( n < 4 ? n : 4 )))
# ENVS_MADE=1 (set by make test once every environment exists): the suites start in the order above, not in the
# order their environments happen to be checked.
SUITE_ENV = $(if $(ENVS_MADE),,env-%)
TEST_SUITES := test-gamo_keras test-repo test-caleg_tf test-imsic_torch test-dgc_tf $(addprefix test-shared-,$(ENV_KEYS)) \
               test-dfg_torch test-benchmark test-split-identity

.PHONY: help envs lock data verify-record test test-repo test-shared test-subprojects test-split-identity test-benchmark report \
        $(addprefix test-,$(SUBPROJECTS)) $(addprefix test-shared-,$(ENV_KEYS)) \
        benchmark clean-envs $(addprefix env-,$(ENVIRONMENTS))

##@ Help
# Every target says what it does in a `## ` comment on its own line, which `make help` prints (`##@ ` lines are its
# headings). Targets of <folder>/targets.mk: their `## ` comment, else the comment line right above them, else their
# command; `make reproduce-<name>`: the run.py arguments of its REPRODUCE.<name> line.
help: ## this list (variables: GPU=1, VENVS=, DATA_ROOT=, RUN_OUT=, RESULTS=, PLAN=, BENCH_FLAGS=)
	@{ $(foreach n,$(REPRODUCE_NAMES),printf '%s\t%s\n' '$(n)' '$(call reproduce_help,$(n))';) } | \
	  awk -v envs='$(ENVIRONMENTS)' -v subs='$(SUBPROJECTS)' -v keys='$(ENV_KEYS)' "$$HELP_AWK" - $(MAKEFILE_LIST)

REPRODUCE_NAMES = $(sort $(patsubst REPRODUCE.%,%,$(filter REPRODUCE.%,$(.VARIABLES))))
reproduce_help = $(firstword $(REPRODUCE.$(1)))/run.py $(wordlist 2,1000,$(REPRODUCE.$(1)))
# Reads the reproduce list on standard input ("-"), then the makefiles; prints aligned rows at the end.
define HELP_AWK
function row(t, d) { gsub(/\$$\(call env_py,[a-z_]+\)/, "<env python>", d); gsub(/^[ \t@]+|[ \t]+$$/, "", d);
  n++; name[n] = t; text[n] = d; if (length(t) > w) w = length(t) }
function head(h) { n++; name[n] = ""; text[n] = h }
BEGIN { lists["ENVIRONMENTS"] = envs; lists["SUBPROJECTS"] = subs; lists["ENV_KEYS"] = keys }
FILENAME == "-" { split($$0, f, "\t"); rn[++nr] = f[1]; rd[nr] = f[2]; next }
FNR == 1 { prev = ""; pend = ""
  if (FILENAME ~ /targets\.mk$$/ && !mk++) head("Targets of the method folders (<folder>/targets.mk)") }
/^##@ / { head(substr($$0, 5)); prev = ""; next }
/^#/ { prev = $$0; sub(/^#+ */, "", prev); next }
/^\$$\(addprefix [a-z-]+,\$$\([A-Z_]+\)\):/ && / ## / { d = $$0; sub(/.* ## /, "", d); t = $$0;
  sub(/^\$$\(addprefix /, "", t); pre = t; sub(/,.*/, "", pre); v = t; sub(/^[^(]*\(/, "", v); sub(/\).*/, "", v);
  k = split(lists[v], e, " "); for (i = 1; i <= k; i++) { x = d; gsub(/<folder>/, e[i], x); row(pre e[i], x) }
  prev = ""; next }
/^reproduce-%:/ { for (i = 1; i <= nr; i++) row("reproduce-" rn[i], rd[i]); prev = ""; next }
/^[a-z][a-zA-Z0-9_.-]*:([^=]|$$)/ { t = $$0; sub(/:.*/, "", t);
  if ($$0 ~ / ## /) { d = $$0; sub(/.* ## /, "", d) } else if (prev != "") d = prev;
  else if ($$0 ~ /^[^;]*;/) { d = $$0; sub(/^[^;]*; */, "", d) } else { pend = t; next }
  row(t, d); prev = ""; next }
/^\t/ && pend != "" { row(pend, $$0); pend = ""; next }
{ prev = ""; pend = "" }
END { print "make <target> [GPU=1] [VARIABLE=value ...]"
  for (i = 1; i <= n; i++)
    if (name[i] == "") printf "\n%s:\n", text[i]; else printf "  make %-" w "s  %s\n", name[i], text[i] }
endef
export HELP_AWK

##@ Environments
$(addprefix env-,$(ENVIRONMENTS)): env-%: ## create <folder>'s environment from its lock (GPU=1: the CUDA lock, if any)
	@environments/env.sh $(ENV_FLAGS) $* >/dev/null  # installs $(call env_lock,$*)

envs: $(addprefix env-,$(ENVIRONMENTS)) ## create every environment (GPU=1: the CUDA variants)

# The lock files (environments/<folder>/requirements*.lock) are compiled with uv, pinned below so that the same
# inputs give the same lock; environments/lock.sh says how. TORCH_CPU_WHEELS=<folder or page holding the same
# wheel>: where lock.sh reads torch's CPU wheel when PyTorch's index cannot be reached.
UV_VERSION := 0.13.8
LOCK_TOOL := $(VENVS)/uv-$(UV_VERSION)/bin/uv
UV ?= $(LOCK_TOOL)
UPGRADE ?=
LOCK_NEEDS := $(if $(filter $(LOCK_TOOL),$(UV)),$(LOCK_TOOL))
lock: $(LOCK_NEEDS) ## recompile every requirements*.lock from requirements*.txt (UPGRADE=1: newest allowed)
	UV='$(UV)' UPGRADE='$(UPGRADE)' $(if $(TORCH_CPU_WHEELS),TORCH_CPU_WHEELS='$(TORCH_CPU_WHEELS)') \
	  environments/lock.sh $(ENVIRONMENTS)

$(LOCK_TOOL):
	$(PYTHON) -m venv $(VENVS)/uv-$(UV_VERSION)
	$(VENVS)/uv-$(UV_VERSION)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

clean-envs: ## remove every environment (the VENVS folder, default .venvs)
	rm -rf $(VENVS)

##@ Data
data: env-gamo_keras ## fetch and verify MNIST and Fashion-MNIST into DATA_ROOT (default data/)
	$(TF_PY) -m shared_data fetch --dataset mnist fashion --copy

# ---- tests ------------------------------------------------------------------------------------------------
##@ Tests
test: ## every test suite, each in its own environment (made on first use), TEST_JOBS at a time; one summary line
	@rm -rf $(REPORTS) && mkdir -p $(REPORTS)
	@$(MAKE) --no-print-directory -j$(TEST_JOBS) envs
	@$(MAKE) --no-print-directory -k -j$(TEST_JOBS) --output-sync=target $(TEST_SUITES) ENVS_MADE=1 \
	  || touch $(REPORTS)/.a-suite-failed
	@$(call env_dir,gamo_keras)/bin/python environments/test_summary.py $(REPORTS) && [ ! -e $(REPORTS)/.a-suite-failed ]

# Repository checks: environment files, README commands that must exist as targets.
# ... and the contract test, which runs the smoke plan through the benchmark runner (submitit, local processes):
# every run.py at the smoke budget in that folder's own environment.
test-repo: $(if $(ENVS_MADE),,$(addprefix env-,$(ENVIRONMENTS))) ## tests/: environment files, README commands, the smoke-plan contract
	@echo "== repository tests"
	@$(TF_PY) -m pytest -q -p no:cacheprovider tests --junitxml=$(REPORTS)/repository.xml

# shared_data's suite in every distinct environment: the golden split hash it checks proves that every
# environment writes the same bytes.
test-shared: $(addprefix test-shared-,$(ENV_KEYS)) ## shared_data's suite in every distinct environment
$(addprefix test-shared-,$(ENV_KEYS)): test-shared-%: $(SUITE_ENV) ## shared_data's suite in <folder>'s environment
	@py=$$(environments/env.sh --path $*)/bin/python; \
	  echo "== shared_data tests in $$($$py -c 'import sys; print(sys.prefix)')"; \
	  $$py -m pytest -q -p no:cacheprovider shared_data/tests --junitxml=$(REPORTS)/shared-$*.xml

# Each method's suite in its own environment (slow tests excluded: pytest -m slow runs them).
test-subprojects: $(addprefix test-,$(SUBPROJECTS)) ## each method's suite in its own environment (not the slow tests)
$(addprefix test-,$(SUBPROJECTS)): test-%: $(SUITE_ENV) ## <folder>'s suite in its own environment (not the slow tests)
	@py=$$(cd $$(environments/env.sh --path $*) && pwd)/bin/python; \
	  echo "== $* tests"; \
	  cd $* && $$py -m pytest -q -p no:cacheprovider -m "not slow" tests --junitxml=$(CURDIR)/$(REPORTS)/$*.xml

# The same split written from two environments must be byte-identical, file by file.
test-split-identity: $(if $(ENVS_MADE),,$(addprefix env-,$(ENV_KEYS))) ## one split written from every environment, byte-identical
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
test-benchmark: $(if $(ENVS_MADE),,env-benchmark) ## the benchmark runner's suite (benchmark/tests)
	@echo "== benchmark tests"
	@$(BENCH_PY) -m pytest -q -p no:cacheprovider benchmark/tests --junitxml=$(REPORTS)/benchmark.xml

# ---- results ----------------------------------------------------------------------------------------------
##@ Results
# ... and, for every benchmark plan with a table under $(RESULTS)/benchmark/, that table, its plot and README.md's
# benchmark section, so that one command brings every generated section up to the committed records.
report: env-gamo_keras env-benchmark ## results/**/result.json beside the papers' tables, and each benchmark plan's table, into results/ and README.md
	$(TF_PY) -m shared_data report --results $(RESULTS) --paper-tables paper_tables --plot-dir $(RESULTS) \
	  --markdown $(RESULTS)/README.md --write-readme README.md --repo .
	@for csv in $(wildcard $(RESULTS)/benchmark/*.csv); do \
	  $(BENCH_PY) -m benchmark report $$(basename $$csv .csv) --results $(abspath $(RESULTS)) --readme README.md; \
	done

# The record's command run again (its budget, its method's environment, the math-library settings it names) in a
# temporary folder, its predictions compared with the record's bit for bit: exit 0 identical, 1 differs, 2 cannot
# compare (the reason is printed: another machine, a record without a command or a predictions hash, ...).
verify-record: env-gamo_keras ## RECORD=results/<method>/<run>: re-make a record and compare its predictions bit for bit
	@[ -n "$(RECORD)" ] || { echo "make: verify-record needs RECORD=results/<method>/<run>" >&2; exit 2; }
	$(TF_PY) -m shared_data verify-record $(RECORD) --data-root $(DATA_ROOT)

# make reproduce-<name>: `REPRODUCE.<name> := <folder> <run.py arguments>` (from <folder>/targets.mk) runs
# <folder>/run.py in <folder>'s own environment, publishes the finished run into results/ (a re-run of a committed
# record is shown beside that record instead), regenerates the report quietly, and ends with run.py's comparison:
# the run beside its committed record and the paper's cell (shared_data/compare.py).
# Re-running resumes an interrupted run, or only republishes a finished one.
##@ Reproductions: <folder>/run.py with these arguments, then the result published into results/ and the report
reproduce-%:
	@[ -n "$(REPRODUCE.$*)" ] || { echo "make: no reproduce-$* (make help lists them)" >&2; exit 2; }
	@$(MAKE) --no-print-directory env-$(firstword $(REPRODUCE.$*))
	mkdir -p $(abspath $(RUN_OUT)) && cd $(firstword $(REPRODUCE.$*)) && $(call env_py,$(firstword $(REPRODUCE.$*))) run.py \
	  $(wordlist 2,1000,$(REPRODUCE.$*)) --out $(abspath $(RUN_OUT)) --data-root $(DATA_ROOT) \
	  --publish $(abspath $(RESULTS)) | tee $(abspath $(RUN_OUT))/last-reproduce.log
	@$(MAKE) --no-print-directory report >/dev/null && echo "report regenerated (README.md, $(RESULTS)/README.md)"
	@echo && sed -n '/^== /,$$p' $(abspath $(RUN_OUT))/last-reproduce.log | grep -v '^published \|report regenerated' || true

# Every run of a plan not yet published under results/ (interrupted ones resume), each in its folder's environment;
# then results/benchmark/$(PLAN).csv, its per-class recall plot and README.md's benchmark section.
##@ Benchmark
benchmark: envs ## every run of benchmark/plans/<PLAN>.toml (PLAN=smoke) not yet in results/, then its table
	$(BENCH_PY) -m benchmark run $(PLAN) --runs $(abspath $(RUN_OUT)) --data-root $(DATA_ROOT) \
	  --results $(abspath $(RESULTS)) --readme README.md $(BENCH_FLAGS)

-include $(wildcard */targets.mk)
