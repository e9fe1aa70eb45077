"""The ``result.json`` record every method writes: assembled by :func:`make_result`, checked by
:func:`validate_result`, with the checks of the other files of a run folder (``predictions.npz``:
:func:`validate_predictions`; ``metrics.jsonl``: :func:`validate_eval_record`, :func:`validate_metrics_log`).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
from pathlib import Path

import numpy as np

from . import identity
from .atomic import normalise_json
from .metrics import SCALAR_METRICS
from .provenance import git_commit, package_versions, utc_now

RESULT_SCHEMA = "shared_data/result/v2"
BUDGETS = ("full", "quick", "smoke")
REQUIRED_FIELDS = {
    "schema": str, "method": str, "variant": str, "framework": str, "dataset": str, "protocol": str,
    "split_id": str, "split_hash": str, "split_seed": int, "seed": int, "budget": str, "device": str,
    "wall_time_s": (int, float), "metrics": dict, "config": dict, "versions": dict, "git_commit": str,
    "created_utc": str, "train_counts": list, "n_test": int, "faithful": bool, "fixes": dict,
    "eval_subset": (str, int),
}
EVAL_SPLITS = ("train", "val", "test")
_HASH = re.compile(r"[0-9a-f]{64}")
_COMMIT = re.compile(r"([0-9a-f]{40}(\+dirty)?|unknown)")
REQUIRED_METRICS = ("accuracy", "acsa", "gm_gamo", "gmacro_dgc", "fmacro", "rmi", "pma", "per_class_recall",
                    "confusion_matrix")


class ResultValidationError(ValueError):
    pass


def make_result(*, method: str, framework: str, split, seed: int, budget: str, device: str, wall_time_s: float,
                metrics: dict, config: dict, variant, paper_method: str | None = None,
                extra: dict | None = None, machine: dict | None = None, command: list | None = None) -> dict:
    """Assemble a ``result.json`` record.

    ``split`` is the :class:`shared_data.splits.Split` the run trained and was scored on (its test subset
    included); ``variant`` the :class:`shared_data.variants.Variant` that the method's fix table resolved;
    ``paper_method`` the method's name in ``paper_tables/`` (None when the run is no paper's method, e.g. a
    baseline the paper did not report).

    ``command`` is the ``run.py`` command that re-makes the record (default: this process's own, see
    :func:`shared_data.identity.run_command`; None when the process is no ``run.py``); ``machine`` what makes
    its numbers (default: :func:`shared_data.identity.describe_machine` with the thread counts and GPUs that the
    loaded frameworks report, and the config's ``threads``); the record carries its ``machine_id`` too.
    """
    if machine is None:
        machine = default_machine(device, config)
    if command is None:
        command = identity.run_command()
    result = {
        "schema": RESULT_SCHEMA,
        "method": method,
        "variant": variant.name,
        "faithful": bool(variant.faithful),
        "fixes": normalise_json(dict(variant.fixes)),
        "paper_method": paper_method,
        "eval_subset": split.eval_subset,
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
        "config": normalise_json(config),
        "versions": package_versions(),
        "git_commit": git_commit(),
        "created_utc": utc_now(),
        "command": list(command) if command is not None else None,
        "machine": machine,
        "machine_id": identity.machine_id(machine),
    }
    if extra:
        result["extra"] = normalise_json(extra)
    return result


def default_machine(device: str, config: dict | None = None) -> dict:
    """:func:`shared_data.identity.describe_machine` with what can be found without a method's help: thread counts
    and GPUs from the frameworks already loaded, the config's ``threads`` (e.g. a ``--threads`` flag), the GPU
    names of the device label."""
    threads, gpus = identity.framework_facts(device)
    requested = (config or {}).get("threads")
    if isinstance(requested, int) and not isinstance(requested, bool):
        threads = dict(threads or {}, requested=requested)
    return identity.describe_machine(threads=threads, gpus=gpus or identity.gpu_names_of(device))


def validate_result(result: dict) -> dict:
    """Raise ResultValidationError listing every problem; return the record when it is valid."""
    problems = []
    if not isinstance(result, dict):
        raise ResultValidationError("result must be a JSON object")
    for key, typ in REQUIRED_FIELDS.items():
        if key not in result:
            problems.append(f"missing {key}")
        elif not isinstance(result[key], typ) or (isinstance(result[key], bool) and typ is not bool):
            problems.append(f"{key} has type {type(result[key]).__name__}")
    if "schema" in result and result["schema"] != RESULT_SCHEMA:
        problems.append(f"schema {result['schema']!r} != {RESULT_SCHEMA!r} (python -m shared_data migrate "
                        f"upgrades v1 records)")
    if "paper_method" not in result:
        problems.append("missing paper_method (null when no paper reports the run)")
    elif result["paper_method"] is not None and not (isinstance(result["paper_method"], str)
                                                     and result["paper_method"].strip()):
        problems.append("paper_method must be a name or null")
    if result.get("faithful") is True and result.get("fixes"):
        problems.append(f"faithful is true but fixes are set: {sorted(result['fixes'])}")
    if result.get("faithful") is False and isinstance(result.get("fixes"), dict) and not result["fixes"]:
        problems.append("faithful is false but no fix is named")
    if isinstance(result.get("variant"), str) and not result["variant"].strip():
        problems.append("variant is empty")
    subset = result.get("eval_subset")
    if isinstance(subset, str) and subset != "full" or isinstance(subset, int) and subset < 1:
        problems.append(f"eval_subset must be 'full' or a per-class count >= 1, got {subset!r}")
    if "budget" in result and result["budget"] not in BUDGETS:
        problems.append(f"budget {result['budget']!r} not in {BUDGETS}")
    for key in ("device", "method", "framework", "dataset", "protocol", "split_id"):
        if isinstance(result.get(key), str) and not result[key].strip():
            problems.append(f"{key} is empty")
    if isinstance(result.get("split_hash"), str) and not _HASH.fullmatch(result["split_hash"]):
        problems.append(f"split_hash {result['split_hash']!r} is not a sha256 hex digest")
    if isinstance(result.get("git_commit"), str) and not _COMMIT.fullmatch(result["git_commit"]):
        problems.append(f"git_commit {result['git_commit']!r} is not a commit (40 hex digits, +dirty) or 'unknown'")
    if isinstance(result.get("versions"), dict) and not result["versions"]:
        problems.append("versions is empty")
    for key in ("seed", "split_seed", "n_test"):
        if isinstance(result.get(key), int) and not isinstance(result[key], bool) and result[key] < 0:
            problems.append(f"{key} is negative")
    counts = result.get("train_counts")
    if isinstance(counts, list) and not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0
                                            for c in counts):
        problems.append("train_counts must be non-negative integers")
    if isinstance(result.get("wall_time_s"), (int, float)) and not result["wall_time_s"] >= 0:
        problems.append("wall_time_s must be >= 0")
    problems += _provenance_problems(result)
    m = result.get("metrics")
    if isinstance(m, dict):
        problems += _metric_problems(m, result)
    if problems:
        raise ResultValidationError("invalid result.json: " + "; ".join(problems))
    return result


def _provenance_problems(result: dict) -> list[str]:
    """``command``, ``machine``/``machine_id`` and ``predictions_sha256``: optional (records made before them lack
    them, and a run started from no ``run.py`` has a null command), well-formed when present."""
    problems = identity.machine_problems(result.get("machine"), result.get("machine_id"))
    command = result.get("command")
    if command is not None and not (isinstance(command, list) and command and all(isinstance(a, str) for a in command)
                                    and command[0].endswith("/run.py")):
        problems.append("command must be null or the run.py argument list (['<folder>/run.py', ...])")
    digest = result.get("predictions_sha256")
    if digest is not None and not (isinstance(digest, str) and _HASH.fullmatch(digest)):
        problems.append(f"predictions_sha256 {digest!r} is not a sha256 hex digest")
    return problems


def _metric_problems(m: dict, result: dict) -> list[str]:
    problems = [f"metrics.{key} missing" for key in REQUIRED_METRICS if key not in m]
    for key in SCALAR_METRICS:
        v = m.get(key)
        if v is None:
            continue
        if not isinstance(v, (int, float)) or (not math.isnan(v) and not 0.0 <= v <= 1.0):
            problems.append(f"metrics.{key} = {v!r} is not a number in [0, 1] (or NaN)")
        elif key in ("acsa", "accuracy") and math.isnan(v):  # defined for every confusion matrix: never NaN
            problems.append(f"metrics.{key} is NaN; it is defined for any confusion matrix")
    try:
        cm = np.asarray(m.get("confusion_matrix"), dtype=float)
    except (TypeError, ValueError):
        return problems + ["metrics.confusion_matrix is not a matrix"]
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or (cm < 0).any():
        return problems + ["metrics.confusion_matrix is not a square matrix of counts"]
    if isinstance(result.get("n_test"), int) and int(cm.sum()) != result["n_test"]:
        problems.append(f"confusion matrix sums to {int(cm.sum())}, n_test is {result['n_test']}")
    if isinstance(result.get("train_counts"), list) and len(result["train_counts"]) != len(cm):
        problems.append("confusion matrix and train_counts differ in size")
    recall = m.get("per_class_recall")
    if isinstance(recall, list) and len(recall) != len(cm):
        problems.append("per_class_recall and the confusion matrix differ in size")
    elif isinstance(recall, list) and cm.sum() > 0:
        support = cm.sum(axis=1)
        expect = np.divide(np.diag(cm), support, out=np.zeros(len(cm)), where=support > 0)
        if not np.allclose(np.asarray(recall, dtype=float), expect, atol=1e-6):
            problems.append("per_class_recall contradicts the confusion matrix")
        acsa = m.get("acsa")
        if isinstance(acsa, (int, float)) and not math.isnan(acsa) and (support > 0).all() \
                and abs(acsa - float(expect.mean())) > 1e-6:
            problems.append("acsa contradicts the confusion matrix")
    acc = m.get("accuracy")
    if isinstance(acc, (int, float)) and not math.isnan(acc) and cm.sum() > 0 \
            and abs(acc - float(np.trace(cm) / cm.sum())) > 1e-6:
        problems.append("accuracy contradicts the confusion matrix")
    return problems


def predictions_sha256(y_pred) -> str:
    """The hash a record keeps of its predictions: sha256 of the predicted labels as little-endian int64 bytes
    (so the label dtype a method saves with does not count, only the labels)."""
    labels = np.ascontiguousarray(np.asarray(y_pred), dtype="<i8")
    return hashlib.sha256(labels.tobytes()).hexdigest()


def predictions_file_sha256(path: str | os.PathLike) -> str:
    """:func:`predictions_sha256` of the ``y_pred`` saved in a ``predictions.npz``."""
    with np.load(path, allow_pickle=False) as f:
        return predictions_sha256(f["y_pred"])


def validate_predictions(arrays: dict) -> dict:
    """``predictions.npz`` holds ``y_true``, ``y_pred`` (1-D integer labels of one length) and ``scores``
    (class probabilities, (N, C), non-negative, rows summing to 1)."""
    problems = [f"missing {k}" for k in ("y_true", "y_pred", "scores") if k not in arrays]
    if not problems:
        y_true, y_pred, scores = (np.asarray(arrays[k]) for k in ("y_true", "y_pred", "scores"))
        for name, y in (("y_true", y_true), ("y_pred", y_pred)):
            if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
                problems.append(f"{name} must be a 1-D integer array, got {y.dtype} {y.shape}")
        if y_true.shape != y_pred.shape:
            problems.append(f"y_true {y_true.shape} and y_pred {y_pred.shape} differ in length")
        if scores.ndim != 2 or scores.shape[0] != len(y_true):
            problems.append(f"scores must be (N, C) with N = {len(y_true)}, got {scores.shape}")
        elif not np.issubdtype(scores.dtype, np.floating) or (scores < 0).any() \
                or not np.allclose(scores.sum(axis=1), 1.0, atol=1e-3):
            problems.append("scores must be class probabilities (non-negative, rows summing to 1); store logits "
                            "under their own name")
    if problems:
        raise ResultValidationError("invalid predictions: " + "; ".join(problems))
    return arrays


def validate_eval_record(record: dict) -> dict:
    problems = []
    if record.get("split") not in EVAL_SPLITS:
        problems.append(f"split {record.get('split')!r} not in {EVAL_SPLITS}")
    if not isinstance(record.get("metrics"), dict) or not record["metrics"]:
        problems.append("metrics must be a non-empty dict")
    marks = [record.get(k) for k in ("step", "epoch")]
    if all(v is None for v in marks) or any(v is not None and (not isinstance(v, int) or isinstance(v, bool)
                                                                or v < 0) for v in marks):
        problems.append("an evaluation names its step or epoch (integers >= 0)")
    if problems:
        raise ResultValidationError("invalid evaluation record: " + "; ".join(problems))
    return record


def validate_metrics_log(path: str | os.PathLike) -> list[dict]:
    """Check a ``metrics.jsonl``: one JSON object a line, every evaluation in the shared shape."""
    records = []
    text = Path(path).read_text()
    if text and not text.endswith("\n"):
        raise ResultValidationError(f"{path}: the last line is torn (no newline: the run was killed while writing "
                                    f"it); resume the run, which drops it, before using the log")
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ResultValidationError(f"{path}:{n}: not JSON ({exc})") from exc
        if not isinstance(record, dict) or "kind" not in record:
            raise ResultValidationError(f"{path}:{n}: a record is a JSON object with a kind")
        if record["kind"] == "eval":
            try:
                validate_eval_record(record)
            except ResultValidationError as exc:
                raise ResultValidationError(f"{path}:{n}: {exc}") from exc
        records.append(record)
    return records
