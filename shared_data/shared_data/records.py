"""Run folders: the folder of one run, its lock, config, training log, predictions and result.

A run folder ``<out>/<method>/<name>/`` holds ``config.json`` (the resolved config), ``metrics.jsonl`` (one
line per evaluation), ``predictions.npz``, ``checkpoints/``, plots, ``run_progress.json`` (where training is,
rewritten with every logged record: :mod:`shared_data.progress`) and, once the run finished, ``result.json``.
Every file is written atomically (temporary file, fsync, rename), so an interrupted run never leaves a
half-written record. The same name with another config is refused instead of silently overwritten.

A run folder belongs to one process at a time: ``RunDir.create`` takes its lock (``.run.lock``, holding the
owner's pid and host), a second process asking for the same folder is refused with the owner's pid, and the lock
goes when the owner calls ``release()``, leaves a ``with`` block, drops the ``RunDir`` or exits. A lock left by
a process that no longer exists (killed) is taken over.

The rest of the run record lives beside it, and every name is importable from here as well:
:mod:`shared_data.result_schema` (``result.json``: :func:`make_result`, :func:`validate_result`, the checks of
predictions and logs), :mod:`shared_data.publishing` (:func:`publish`), :mod:`shared_data.atomic` (atomic
writes) and :mod:`shared_data.provenance` (versions, commit, device).
"""
from __future__ import annotations

import importlib
import json
import os
import re
import socket
import weakref
from pathlib import Path

import numpy as np

from . import errors
from .atomic import (_umask, atomic_save_npz, atomic_write_bytes, atomic_write_json,  # noqa: F401 (re-exported)
                     normalise_json, pid_alive, process_start, remove_orphans, to_json)
from .metrics import SCALAR_METRICS
from .paths import UnsafePathError, safe_name
from .provenance import (NOT_CODE, describe_cpu, describe_device, framework_version, git_commit,  # noqa: F401
                         package_versions, utc_now)
from .result_schema import (BUDGETS, EVAL_SPLITS, REQUIRED_FIELDS, REQUIRED_METRICS,  # noqa: F401 (re-exported)
                            RESULT_SCHEMA, ResultValidationError, default_machine, make_result,
                            predictions_file_sha256, predictions_sha256, validate_eval_record,
                            validate_metrics_log, validate_predictions, validate_result)

_PUBLISHING = ("publish", "same_machine", "device_slug")  # shared_data.publishing, which imports this module


def __getattr__(name: str):
    """``records.publish`` and its helpers, imported on first use (publishing needs :class:`RunDir` from here)."""
    if name in _PUBLISHING:
        return getattr(importlib.import_module(".publishing", __package__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class RunError(errors.RunFolderError):
    """A run folder cannot be used as asked."""


# -- run folders ---------------------------------------------------------------------------------------------

def variant_slug(variant: str) -> str:
    """A variant name as a folder-name piece: ``caleg r=1+cov-ridge=0.001`` -> ``caleg-r1+cov-ridge0.001``."""
    return re.sub(r"[^A-Za-z0-9.+_-]+", "-", variant.replace("=", "")).strip("-")


def run_name(dataset: str, protocol: str, split_seed: int, seed: int, budget: str, variant: str | None = None,
             tag: str | None = None) -> str:
    """``<dataset>-<protocol>[-<variant>]-split<s>-seed<t>-<budget>[-<tag>]``: readable and config-derived.

    The name becomes a folder: a tag (or any part) that is not a plain name is a RunError."""
    parts = [dataset, protocol] + ([variant_slug(variant)] if variant else []) + \
        [f"split{split_seed}", f"seed{seed}", budget]
    if tag:
        checked_name(tag, "--tag")
        parts.append(tag)
    return checked_name("-".join(map(str, parts)), "run name")


def checked_name(value, what: str) -> str:
    """``paths.safe_name``, as the RunError every run.py turns into its one-line error."""
    try:
        return safe_name(value, what)
    except UnsafePathError as exc:
        raise RunError(str(exc)) from None


LOCK_NAME = ".run.lock"
_held_locks: dict[str, int] = {}  # lock file -> how many RunDir objects of this process hold it


def _lock_owner(lock: Path) -> dict | None:
    try:
        owner = json.loads(lock.read_text())
    except (OSError, ValueError):
        return None
    return owner if isinstance(owner, dict) else None


def _owner_alive(owner: dict | None) -> bool:
    """Whether the process that wrote a lock still runs. One on another host cannot be asked: it counts as alive.
    An unreadable lock counts as alive too (never taken over on a guess)."""
    if owner is None:
        return True
    if owner.get("host") != socket.gethostname():
        return True
    pid = owner.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return True
    if not pid_alive(pid) or _exited(pid):
        return False
    start, now = owner.get("start"), process_start(pid)
    return start is None or now is None or start == now  # another start time: the pid was reused


def _exited(pid: int) -> bool:
    """A process that has ended but not been reaped (a zombie: its parent was killed too, and nothing has
    collected it yet) still answers ``kill(pid, 0)``; /proc says it is gone."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state in ("Z", "X")


def _acquire_lock(lock: Path, what: Path) -> None:
    """Take ``lock`` for this process (again, if it holds it already), taking over one of a dead process.

    The lock file is made complete beside it, then hard-linked into place: the link fails when the lock exists,
    so exactly one process wins, and a reader never sees half a lock."""
    key = str(lock.parent.resolve() / lock.name)  # one key however the folder was named
    if key in _held_locks:
        _held_locks[key] += 1
        return
    me = {"pid": os.getpid(), "host": socket.gethostname(), "start": process_start(os.getpid()),
          "since": utc_now()}
    tmp = lock.with_name(f"{lock.name}.{os.getpid()}.tmp")
    tmp.write_text(to_json(me) + "\n")
    try:
        for _ in range(5):
            try:
                os.link(tmp, lock)
                _held_locks[key] = 1
                return
            except FileExistsError:
                pass
            owner = _lock_owner(lock)
            if owner is not None and owner.get("pid") == os.getpid() and owner.get("host") == me["host"]:
                _held_locks[key] = 1  # this process's own lock (a RunDir of it released without unlinking)
                return
            if _owner_alive(owner):
                who = f"pid {owner.get('pid')} on {owner.get('host')}, since {owner.get('since')}" if owner \
                    else "a process whose lock file is unreadable"
                raise RunError(f"{what} is in use by another run ({who}); wait for it to end or pass another "
                               f"--out (if that run is gone, delete {lock})")
            _take_over(lock, owner)
        raise RunError(f"{what}: could not take its lock {lock}; try again")
    finally:
        tmp.unlink(missing_ok=True)


def _take_over(lock: Path, stale: dict) -> None:
    """Remove the lock of a dead process. It is first renamed away (only one taker gets a given file); if what was
    renamed is not that stale lock (another taker has just made its own), it is put back."""
    moved = lock.with_name(f"{lock.name}.{os.getpid()}.stale.tmp")
    try:
        os.rename(lock, moved)
    except FileNotFoundError:
        return
    if _lock_owner(moved) != stale:
        try:
            os.link(moved, lock)
        except FileExistsError:
            pass
    moved.unlink(missing_ok=True)


def _release_lock(lock: str) -> None:
    count = _held_locks.get(lock, 0) - 1
    if count > 0:
        _held_locks[lock] = count
        return
    _held_locks.pop(lock, None)
    owner = _lock_owner(Path(lock))
    if owner is not None and owner.get("pid") == os.getpid() and owner.get("host") == socket.gethostname():
        Path(lock).unlink(missing_ok=True)  # a forked child's copy of a RunDir never removes its parent's lock


class RunDir:
    """One run's folder. ``create`` makes it, or reopens it when the config is the same (resume), and holds its
    lock until ``release()``, the end of a ``with`` block, the object's collection or the process's exit."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._lock = None
        self._progress = None

    @classmethod
    def create(cls, out_root: str | os.PathLike, method: str, name: str, config: dict,
               ignore_keys: tuple[str, ...] = ()) -> "RunDir":
        """Make ``<out_root>/<method>/<name>`` and lock it; an existing folder must hold the same config.

        ``method`` and ``name`` must be plain names (see :mod:`shared_data.paths`). A folder locked by another
        live process is a RunError naming that process. ``ignore_keys`` lists config keys that may differ between
        attempts (e.g. a progress-bar switch).
        """
        run = cls(Path(out_root) / checked_name(method, "method") / checked_name(name, "run name"))
        new = normalise_json(config)
        run.path.mkdir(parents=True, exist_ok=True)
        run._take_lock()
        cfg_path = run.path / "config.json"
        try:
            if cfg_path.exists():
                try:
                    old = json.loads(cfg_path.read_text())
                except (ValueError, UnicodeDecodeError) as exc:
                    raise RunError(f"{cfg_path}: not readable JSON ({exc}); delete that run folder or pass another "
                                   f"--out") from None
                if not isinstance(old, dict):
                    raise RunError(f"{cfg_path}: not a config (a JSON object); delete that run folder or pass "
                                   f"another --out")
                keys = sorted(k for k in set(old) | set(new) if k not in ignore_keys and old.get(k) != new.get(k))
                if keys:
                    raise RunError(f"{run.path} holds a run with another config (differs in {', '.join(keys)}); "
                                   f"pass another --out or delete that folder")
            else:
                atomic_write_json(cfg_path, new)
            run.checkpoint_dir.mkdir(parents=True, exist_ok=True)
            for folder in (run.path, run.checkpoint_dir):  # what a killed earlier attempt left half-written
                remove_orphans(folder)
            run.repair_metrics()
        except BaseException:
            run.release()
            raise
        return run

    def _take_lock(self) -> None:
        lock = self.path / LOCK_NAME
        _acquire_lock(lock, self.path)
        self._lock = weakref.finalize(self, _release_lock, str(lock.parent.resolve() / lock.name))

    def release(self) -> None:
        """Give the folder's lock back (idempotent; also done when the object goes or the process exits)."""
        if self._lock is not None:
            self._lock()

    def __enter__(self) -> "RunDir":
        return self

    def __exit__(self, *exc) -> None:
        self.release()

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

    @property
    def progress(self):
        """The run's live progress file (:mod:`shared_data.progress`), fed by :meth:`log_metrics` and
        :meth:`write_result`."""
        if self._progress is None:
            from .progress import Tracker

            try:
                config = self.config
            except (OSError, ValueError):
                config = {}
            self._progress = Tracker(self.path, config)
        return self._progress

    def set_progress_total(self, total: int, unit: str = "step", stage: str | None = None) -> None:
        """Declare how many steps (or epochs) the run, or one ``stage`` of it, trains, for its progress file;
        without it the total is read from the run's config (see :mod:`shared_data.progress`)."""
        self.progress.set_total(total, unit, stage)

    def log_metrics(self, record: dict) -> None:
        """Append one JSON line to ``metrics.jsonl`` (flushed and synced: an interruption loses nothing).

        A line without a ``kind`` is a training record (``"kind": "train"``); evaluations use :meth:`log_eval`.
        """
        record = dict(record)
        record.setdefault("kind", "train")
        if record["kind"] == "eval":
            validate_eval_record(record)
        with open(self.metrics_path, "a") as f:
            f.write(to_json(record, indent=None) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.progress.update(record)  # the live progress file (never raises)

    def log_eval(self, split: str, metrics: dict, step: int | None = None, epoch: int | None = None,
                 **extra) -> dict:
        """Append the one evaluation record shape every method writes: ``{"kind": "eval", "split", "step",
        "epoch", "metrics": {scalar metrics}, ...extra}`` (at least one of step and epoch)."""
        record = dict(extra, kind="eval", split=split, step=step, epoch=epoch,
                      metrics={k: v for k, v in metrics.items() if k in SCALAR_METRICS or
                               isinstance(v, (int, float)) and not isinstance(v, bool)})
        self.log_metrics(record)
        return record

    def read_metrics(self) -> list[dict]:
        if not self.metrics_path.exists():
            return []
        self.repair_metrics()
        return [json.loads(line) for line in self.metrics_path.read_text().splitlines() if line.strip()]

    def repair_metrics(self) -> bool:
        """Drop a torn last line of ``metrics.jsonl`` (a run killed while appending), with a warning; a broken
        line anywhere else is an error. True when the file was repaired."""
        if not self.metrics_path.exists():
            return False
        data = self.metrics_path.read_bytes()
        lines = data.split(b"\n")
        torn = lines[-1] != b""  # the last record was never finished with its newline
        body = lines[:-1]
        if not torn and body:
            try:
                json.loads(body[-1])
            except ValueError:
                torn, body = True, body[:-1]
        for n, line in enumerate(body, 1):
            if line.strip():
                try:
                    json.loads(line)
                except ValueError as exc:
                    raise RunError(f"{self.metrics_path}:{n}: unreadable record ({exc}); the log is damaged "
                                   f"beyond its last line: move it away to start the log afresh") from exc
        if not torn:
            return False
        import warnings

        warnings.warn(f"{self.metrics_path}: dropped a torn last line (the run was killed while writing it)",
                      stacklevel=2)
        atomic_write_bytes(self.metrics_path, b"".join(line + b"\n" for line in body))
        return True

    def truncate_metrics(self, keep) -> None:
        """Keep only the records for which ``keep(record)`` is true (used when resuming from a checkpoint)."""
        kept = [r for r in self.read_metrics() if keep(r)]
        atomic_write_bytes(self.metrics_path, "".join(to_json(r, indent=None) + "\n" for r in kept).encode())

    def save_predictions(self, *, y_true, y_pred, scores, **extra) -> Path:
        """``predictions.npz``: ``y_true``, ``y_pred`` (labels), ``scores`` (class probabilities, (N, C)) and
        the method's own arrays under their own names (e.g. ``logits``)."""
        arrays = dict(extra, y_true=np.asarray(y_true), y_pred=np.asarray(y_pred), scores=np.asarray(scores))
        validate_predictions(arrays)
        return atomic_save_npz(self.path / "predictions.npz", **arrays)

    def write_result(self, result: dict) -> Path:
        """Validate and write ``result.json``. When the folder holds ``predictions.npz`` (saved first, as every
        method does), the record gets its ``predictions_sha256`` (set in ``result`` too)."""
        if (self.path / "predictions.npz").exists():
            result["predictions_sha256"] = predictions_file_sha256(self.path / "predictions.npz")
        validate_result(result)
        path = atomic_write_json(self.result_path, result)
        self.progress.finish(result)
        return path


def validate_run_dir(path: str | os.PathLike) -> dict:
    """A finished run folder: a valid result.json, predictions.npz that give its metrics, a valid log."""
    from . import metrics as sd_metrics

    run = RunDir(path)
    if not run.is_complete():
        raise ResultValidationError(f"{run.path} has no result.json")
    result = validate_result(run.read_result())
    for name in ("config.json", "predictions.npz", "metrics.jsonl"):
        if not (run.path / name).exists():
            raise ResultValidationError(f"{run.path} has no {name}")
    with np.load(run.path / "predictions.npz") as f:
        arrays = validate_predictions({k: f[k] for k in f.files})
    again = sd_metrics.compute(arrays["y_true"], arrays["y_pred"], train_counts=result["train_counts"])
    if again["confusion_matrix"] != result["metrics"]["confusion_matrix"]:
        raise ResultValidationError(f"{run.path}: predictions.npz does not give result.json's confusion matrix")
    if result.get("predictions_sha256") not in (None, predictions_sha256(arrays["y_pred"])):
        raise ResultValidationError(f"{run.path}: predictions.npz does not give result.json's predictions_sha256")
    if not any(r["kind"] == "eval" for r in validate_metrics_log(run.metrics_path)):
        raise ResultValidationError(f"{run.path}: metrics.jsonl holds no evaluation record")
    return result
