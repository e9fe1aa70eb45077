"""Run folders and the ``result.json`` schema shared by every method.

A run folder ``<out>/<method>/<name>/`` holds ``config.json`` (the resolved config), ``metrics.jsonl`` (one
line per evaluation), ``predictions.npz``, ``checkpoints/``, plots and, once the run finished,
``result.json``. Every file is written atomically (temporary file, fsync, rename), so an interrupted run never
leaves a half-written record. The same name with another config is refused instead of silently overwritten.
"""
from __future__ import annotations

import datetime as _dt
import io
import json
import math
import os
import platform
import re
import subprocess
import tempfile
from importlib import metadata
from pathlib import Path

import numpy as np

from .metrics import SCALAR_METRICS

RESULT_SCHEMA = "shared_data/result/v1"
BUDGETS = ("full", "quick", "smoke")
REQUIRED_FIELDS = {
    "schema": str, "method": str, "variant": str, "framework": str, "dataset": str, "protocol": str,
    "split_id": str, "split_hash": str, "split_seed": int, "seed": int, "budget": str, "device": str,
    "wall_time_s": (int, float), "metrics": dict, "config": dict, "versions": dict, "git_commit": str,
    "created_utc": str, "train_counts": list,
}
REQUIRED_METRICS = ("accuracy", "acsa", "gm_gamo", "gmacro_dgc", "fmacro", "rmi", "pma", "per_class_recall",
                    "confusion_matrix")
_VERSION_PACKAGES = ("numpy", "scipy", "scikit-learn", "imbalanced-learn", "pandas", "tensorflow", "keras",
                     "tf-keras", "tf-slim", "jax", "jaxlib", "torch", "torchvision", "shared_data")


class RunError(RuntimeError):
    pass


class ResultValidationError(ValueError):
    pass


# -- atomic writes -------------------------------------------------------------------------------------------

def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _json_default(obj):
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON-serialisable: {type(obj).__name__}")


def to_json(obj, indent: int | None = 2) -> str:
    """Key-sorted JSON; numpy types converted; NaN written as ``NaN`` (an undefined metric, read back by json)."""
    return json.dumps(obj, indent=indent, sort_keys=True, default=_json_default)


def atomic_write_json(path, obj) -> Path:
    return atomic_write_bytes(path, (to_json(obj) + "\n").encode())


def atomic_save_npz(path, **arrays) -> Path:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return atomic_write_bytes(path, buf.getvalue())


# -- provenance ----------------------------------------------------------------------------------------------

def package_versions(extra: tuple[str, ...] = ()) -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _VERSION_PACKAGES + tuple(extra):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def git_commit(cwd: str | os.PathLike | None = None) -> str:
    """HEAD of the repository holding ``cwd`` (``+dirty`` when tracked files differ), or 'unknown'.

    By default the working directory's repository is asked first (a ``run.py`` runs inside the checkout whose
    code it executes, which may be a clone at a fixed commit), then the one holding this package.
    """
    if cwd is None:
        found = git_commit(Path.cwd())
        return found if found != "unknown" else git_commit(Path(__file__).resolve().parent)
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=10)
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def describe_cpu() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"cpu: {model} ({os.cpu_count()} cores)"


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- run folders ---------------------------------------------------------------------------------------------

def run_name(dataset: str, protocol: str, split_seed: int, seed: int, budget: str, variant: str | None = None,
             tag: str | None = None) -> str:
    """``<dataset>-<protocol>[-<variant>]-split<s>-seed<t>-<budget>[-<tag>]``: readable and config-derived."""
    parts = [dataset, protocol] + ([variant] if variant else []) + [f"split{split_seed}", f"seed{seed}", budget]
    if tag:
        parts.append(tag)
    return "-".join(parts)


def _normalise(cfg: dict) -> dict:
    return json.loads(to_json(cfg))


class RunDir:
    """One run's folder. ``create`` makes it, or reopens it when the config is the same (resume)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    @classmethod
    def create(cls, out_root: str | os.PathLike, method: str, name: str, config: dict,
               ignore_keys: tuple[str, ...] = ()) -> "RunDir":
        """Make ``<out_root>/<method>/<name>``; an existing folder must hold the same config.

        ``ignore_keys`` lists config keys that may differ between attempts (e.g. a progress-bar switch).
        """
        run = cls(Path(out_root) / method / name)
        new = _normalise(config)
        cfg_path = run.path / "config.json"
        if cfg_path.exists():
            old = json.loads(cfg_path.read_text())
            keys = sorted(k for k in set(old) | set(new) if k not in ignore_keys and old.get(k) != new.get(k))
            if keys:
                raise RunError(f"{run.path} holds a run with another config (differs in {', '.join(keys)}); "
                               f"pass another --out or delete that folder")
        else:
            atomic_write_json(cfg_path, new)
        run.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        return run

    @property
    def checkpoint_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def result_path(self) -> Path:
        return self.path / "result.json"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def config(self) -> dict:
        return json.loads((self.path / "config.json").read_text())

    def is_complete(self) -> bool:
        return self.result_path.exists()

    def read_result(self) -> dict:
        return json.loads(self.result_path.read_text())

    def log_metrics(self, record: dict) -> None:
        """Append one JSON line to ``metrics.jsonl`` (flushed and synced: an interruption loses nothing)."""
        with open(self.metrics_path, "a") as f:
            f.write(to_json(record, indent=None) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def read_metrics(self) -> list[dict]:
        if not self.metrics_path.exists():
            return []
        return [json.loads(line) for line in self.metrics_path.read_text().splitlines() if line.strip()]

    def truncate_metrics(self, keep) -> None:
        """Keep only the records for which ``keep(record)`` is true (used when resuming from a checkpoint)."""
        kept = [r for r in self.read_metrics() if keep(r)]
        atomic_write_bytes(self.metrics_path, "".join(to_json(r, indent=None) + "\n" for r in kept).encode())

    def save_predictions(self, **arrays) -> Path:
        return atomic_save_npz(self.path / "predictions.npz", **arrays)

    def write_result(self, result: dict) -> Path:
        validate_result(result)
        return atomic_write_json(self.result_path, result)


def make_result(*, method: str, framework: str, split, seed: int, budget: str, device: str, wall_time_s: float,
                metrics: dict, config: dict, variant: str | None = None, extra: dict | None = None) -> dict:
    """Assemble a ``result.json`` record; ``split`` is a :class:`shared_data.splits.Split`."""
    result = {
        "schema": RESULT_SCHEMA,
        "method": method,
        "variant": variant or method,
        "framework": framework,
        "dataset": split.dataset,
        "protocol": split.protocol,
        "split_id": split.split_id,
        "split_hash": split.split_hash,
        "split_seed": int(split.split_seed),
        "train_counts": split.train_counts,
        "n_test": int(len(split.y_test)),
        "seed": int(seed),
        "budget": budget,
        "device": device,
        "wall_time_s": float(wall_time_s),
        "metrics": metrics,
        "config": _normalise(config),
        "versions": package_versions(),
        "git_commit": git_commit(),
        "created_utc": utc_now(),
    }
    if extra:
        result["extra"] = _normalise(extra)
    return result


def validate_result(result: dict) -> dict:
    """Raise ResultValidationError listing every problem; return the record when it is valid."""
    problems = []
    if not isinstance(result, dict):
        raise ResultValidationError("result must be a JSON object")
    for key, typ in REQUIRED_FIELDS.items():
        if key not in result:
            problems.append(f"missing {key}")
        elif not isinstance(result[key], typ) or isinstance(result[key], bool):
            problems.append(f"{key} has type {type(result[key]).__name__}")
    if result.get("schema") not in (None, RESULT_SCHEMA) and "schema" in result:
        problems.append(f"schema {result['schema']!r} != {RESULT_SCHEMA!r}")
    if "budget" in result and result["budget"] not in BUDGETS:
        problems.append(f"budget {result['budget']!r} not in {BUDGETS}")
    if isinstance(result.get("device"), str) and not result["device"].strip():
        problems.append("device is empty")
    if isinstance(result.get("wall_time_s"), (int, float)) and not result["wall_time_s"] >= 0:
        problems.append("wall_time_s must be >= 0")
    m = result.get("metrics")
    if isinstance(m, dict):
        for key in REQUIRED_METRICS:
            if key not in m:
                problems.append(f"metrics.{key} missing")
        for key in SCALAR_METRICS:
            v = m.get(key)
            if v is None:
                continue
            if not isinstance(v, (int, float)) or (not math.isnan(v) and not 0.0 <= v <= 1.0):
                problems.append(f"metrics.{key} = {v!r} is not a number in [0, 1] (or NaN)")
        cm = m.get("confusion_matrix")
        if isinstance(cm, list) and isinstance(result.get("n_test"), int):
            if int(np.sum(cm)) != result["n_test"]:
                problems.append(f"confusion matrix sums to {int(np.sum(cm))}, n_test is {result['n_test']}")
        if isinstance(m.get("per_class_recall"), list) and isinstance(result.get("train_counts"), list):
            if len(m["per_class_recall"]) != len(result["train_counts"]):
                problems.append("per_class_recall and train_counts differ in length")
    if problems:
        raise ResultValidationError("invalid result.json: " + "; ".join(problems))
    return result


def device_slug(device: str) -> str:
    """``cpu: Intel(R) Xeon(R) Processor (2 cores)`` -> ``cpu-intel-r-xeon-r-processor-2-cores``."""
    return re.sub(r"[^a-z0-9]+", "-", device.lower()).strip("-")


def _published_device(path: Path) -> str | None:
    try:
        return json.loads(path.read_text()).get("device")
    except (OSError, ValueError, AttributeError):
        return None


def publish(run_dir: str | os.PathLike, results_root: str | os.PathLike = "results") -> Path:
    """Copy a finished run's ``result.json`` to ``<results_root>/<method>/<run name>/result.json``.

    The run's ``metrics.jsonl`` (its training log), when there is one, goes beside it, so a published number
    can be traced back through the run that produced it. Both copies are atomic, and the log is copied first:
    a published ``result.json`` never sits beside a missing or half-written log.

    A result replaces an earlier one of the same run name only when both were measured on the same device (a
    re-run). The same run on another device goes beside it, to ``<run name>--<device slug>/``: numbers from
    different machines differ in their summation order, so neither may silently take the other's place.
    """
    run = RunDir(run_dir)
    if not run.is_complete():
        raise RunError(f"{run.path} has no result.json yet (the run has not finished)")
    result = validate_result(run.read_result())
    target = Path(results_root) / result["method"] / run.path.name / "result.json"
    if target.exists() and _published_device(target) != result["device"]:
        target = target.parent.with_name(f"{run.path.name}--{device_slug(result['device'])}") / "result.json"
    if run.metrics_path.exists():
        atomic_write_bytes(target.parent / run.metrics_path.name, run.metrics_path.read_bytes())
    atomic_write_bytes(target, run.result_path.read_bytes())
    return target
