"""A plan (``benchmark/plans/<name>.toml``) and the jobs it expands to.

A plan crosses methods × datasets × split seeds × seeds at one protocol and budget, and adds each method's
baseline on the same splits. Every job is one ``run.py`` invocation in the method's folder, in the method's own
environment, with the same flags ``make reproduce-*`` passes (``--out``, ``--data-root``, ``--publish``). The
runner never imports a method: a job is a command line, and what it produced is found by reading ``result.json``
files.

Top-level keys (each method table may override the starred ones)::

    description = "..."            what the plan is for
    budget = "quick"               full | quick | smoke (*)
    datasets = ["mnist", "fashion"]   (*)
    protocol = "dgc"               (*)
    split_seeds = [1, 2, 3]        (*)
    seeds = [0]                    training seeds; "split" = the split seed (the original's own loop) (*)
    threads = 1                    CPU threads per job (*)
    baselines = true               also run each method's baseline (*)
    results = "runs/benchmark-smoke/results"   where the plan's runs publish, relative to the repository (default:
                                   the committed results/); a plan that names its own folder never touches the
                                   committed results/ nor the README

    [slurm]                        sbatch options (*, merged key by key); `benchmark run` flags override them
    partition = "gpu"
    account = "my-project"
    gpus_per_node = 1
    time = 120                     minutes: the job's limit (default 1440); local runs have none
    mem = "16G"
    cpus_per_task = 4
    setup = ["module load cuda"]   shell lines the job script runs before it activates the method's environment
    array_parallelism = 8          at most this many runs of one job array at once

    [methods.<folder>]             one table per method folder, in the order the runs start
    variant = "gamo"               the variant name its faithful run records (result.json ``variant``)
    args = ["--aug-rate", "1"]     extra run.py flags (the paper's own parameters)
    estimate = "..."               the per-run wall time its README gives (documentation)
    baseline = { variant = "baseline", args = ["--model", "baseline"] }
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from shared_data.cli import SEED_MAX
from shared_data.paths import UnsafePathError, safe_name
from shared_data.records import BUDGETS, variant_slug

PLAN_DIR = Path(__file__).resolve().parent / "plans"
# Keys a plan may set at the top level and override per method.
_OVERRIDABLE = {"budget", "datasets", "protocol", "split_seeds", "seeds", "threads", "baselines", "slurm"}
_TOP_ONLY = {"description", "methods", "results"}
_METHOD_ONLY = {"variant", "args", "estimate", "baseline"}
_BASELINE_KEYS = {"variant", "args"}
# sbatch options the plan may set (submitit's SlurmExecutor parameter names), and the ones it must not:
# the runner owns the job name and the log paths.
SLURM_KEYS = {"partition", "time", "nodes", "cpus_per_task", "cpus_per_gpu", "gpus_per_node", "gpus_per_task",
              "mem", "mem_per_gpu", "mem_per_cpu", "qos", "account", "constraint", "exclude", "comment", "gres",
              "signal_delay_s", "setup", "additional_parameters", "nodelist", "exclusive", "mail_type",
              "mail_user", "array_parallelism"}
DEFAULTS = {"seeds": [0], "threads": 1, "baselines": True, "slurm": {}}


class PlanError(ValueError):
    """A plan that cannot be expanded; the message names the file and the key."""


@dataclass(frozen=True)
class Job:
    """One run of a plan: which folder, which model (method or baseline), which cell."""

    folder: str
    role: str  # "method" or "baseline"
    variant: str  # the variant name the run records; with the cell, it identifies the run's result.json
    dataset: str
    protocol: str
    split_seed: int
    seed: int
    budget: str
    args: tuple[str, ...] = ()
    threads: int = 1
    slurm: dict = field(default_factory=dict, compare=False, hash=False)
    estimate: str = ""

    @property
    def method(self) -> str:
        """The method name in result.json (``gamo_keras`` -> ``gamo``): the report's convention too."""
        return self.folder.split("_")[0]

    @property
    def key(self) -> tuple:
        """What a published result must match to count as this run."""
        return (self.method, self.variant, self.dataset, self.protocol, self.split_seed, self.seed, self.budget)

    @property
    def name(self) -> str:
        """A file-name-safe id, unique within a plan."""
        return (f"{self.folder}--{variant_slug(self.variant)}--{self.dataset}-{self.protocol}-split{self.split_seed}"
                f"-seed{self.seed}-{self.budget}")

    def run_args(self) -> list[str]:
        """The run.py flags that select this run (the data and output folders come from the runner)."""
        return ["--dataset", self.dataset, "--protocol", self.protocol, "--split-seed", str(self.split_seed),
                "--seed", str(self.seed), "--budget", self.budget, *self.args]


@dataclass
class Plan:
    name: str
    path: Path
    description: str
    jobs: list[Job]
    folders: list[str]
    results: str | None = None  # the plan's own results folder (relative to the repository), if it names one


def resolve_path(spec: str | Path) -> Path:
    """A plan file, or the name of a shipped plan (``quick`` -> ``benchmark/plans/quick.toml``)."""
    path = Path(spec)
    if path.exists():
        return path
    shipped = PLAN_DIR / f"{spec}.toml"
    if shipped.exists() and path.suffix == "":
        return shipped
    known = ", ".join(sorted(p.stem for p in PLAN_DIR.glob("*.toml")))
    raise PlanError(f"no plan {spec!r} (a .toml file, or one of the shipped plans: {known})")


def load(spec: str | Path) -> Plan:
    path = resolve_path(spec)
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise PlanError(f"{path}: not valid TOML ({exc})") from exc
    return expand(data, path)


def _check_keys(table: dict, allowed: set, where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise PlanError(f"{where}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})")


def _ints(value, where: str) -> list[int]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list) or not value or \
            not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= SEED_MAX for v in value):
        raise PlanError(f"{where}: a list of non-negative integers (seeds, at most 2**32 - 1), got {value!r}")
    return value


def _strings(value, where: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise PlanError(f"{where}: a list of names, got {value!r}")
    return value


def _slurm(value, where: str) -> dict:
    if not isinstance(value, dict):
        raise PlanError(f"{where}: a table of sbatch options")
    _check_keys(value, SLURM_KEYS, where)
    setup = value.get("setup", [])
    if not isinstance(setup, list) or not all(isinstance(line, str) for line in setup):
        raise PlanError(f"{where}: setup is a list of shell lines, got {setup!r}")
    return dict(value)


def expand(data: dict, path: Path) -> Plan:
    """Every job of a plan, in plan order: per method, its runs then its baseline's, cell by cell."""
    where = str(path)
    _check_keys(data, _OVERRIDABLE | _TOP_ONLY, where)
    methods = data.get("methods")
    if not isinstance(methods, dict) or not methods:
        raise PlanError(f"{where}: no [methods.<folder>] table")
    own_results = data.get("results")
    if own_results is not None and (not isinstance(own_results, str) or not own_results.strip()):
        raise PlanError(f"{where}: results is a folder path relative to the repository, got {own_results!r}")
    top = dict(DEFAULTS, **{k: v for k, v in data.items() if k in _OVERRIDABLE})
    top["slurm"] = _slurm(top["slurm"], f"{where} [slurm]")
    jobs: list[Job] = []
    for folder, spec in methods.items():
        w = f"{where} [methods.{folder}]"
        if not re.fullmatch(r"[a-z0-9]+_[a-z0-9_]+", folder):
            raise PlanError(f"{w}: a method folder is named <method>_<framework>")
        if not isinstance(spec, dict):
            raise PlanError(f"{w}: a table")
        _check_keys(spec, _OVERRIDABLE | _METHOD_ONLY, w)
        cfg = dict(top, **{k: v for k, v in spec.items() if k in _OVERRIDABLE and k != "slurm"})
        cfg["slurm"] = dict(top["slurm"], **_slurm(spec.get("slurm", {}), f"{w}.slurm"))
        for key in ("budget", "protocol"):
            if not isinstance(cfg.get(key), str):
                raise PlanError(f"{w}: no {key} (set it at the top level or in the method's table)")
        if cfg["budget"] not in BUDGETS:
            raise PlanError(f"{w}: budget {cfg['budget']!r} not in {BUDGETS}")
        datasets = _strings(cfg.get("datasets"), f"{w} datasets")
        for key, names in (("datasets", datasets), ("protocol", [cfg["protocol"]])):
            for name in names:  # they become parts of file names (the job's state file and logs)
                try:
                    safe_name(name, f"{w} {key}:")
                except UnsafePathError as exc:
                    raise PlanError(str(exc)) from None
        split_seeds = _ints(cfg.get("split_seeds"), f"{w} split_seeds")
        tied = cfg["seeds"] == "split"
        seeds = None if tied else _ints(cfg["seeds"], f"{w} seeds ('split' or a list)")
        threads = cfg["threads"]
        if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
            raise PlanError(f"{w}: threads must be a positive integer")
        models = [("method", spec.get("variant"), spec.get("args", []))]
        baseline = spec.get("baseline")
        if baseline is not None:
            if not isinstance(baseline, dict):
                raise PlanError(f"{w}: baseline is a table {{ variant = ..., args = [...] }}")
            _check_keys(baseline, _BASELINE_KEYS, f"{w} baseline")
            if cfg["baselines"]:
                models.append(("baseline", baseline.get("variant"), baseline.get("args", [])))
        for role, variant, args in models:
            if not isinstance(variant, str) or not variant:
                raise PlanError(f"{w}: the {role} needs its variant name (result.json 'variant')")
            if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
                raise PlanError(f"{w}: args is a list of strings")
            for dataset in datasets:
                for split_seed in split_seeds:
                    for seed in ([split_seed] if tied else seeds):
                        jobs.append(Job(folder=folder, role=role, variant=variant, dataset=dataset,
                                        protocol=cfg["protocol"], split_seed=split_seed, seed=seed,
                                        budget=cfg["budget"], args=tuple(args), threads=threads,
                                        slurm=cfg["slurm"],
                                        estimate=str(spec.get("estimate", ""))))
    names = [j.name for j in jobs]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise PlanError(f"{where}: the same run twice: {', '.join(twice)}")
    return Plan(name=path.stem, path=path, description=str(data.get("description", "")), jobs=jobs,
                folders=list(methods), results=own_results)
