"""Run folders and the ``result.json`` schema shared by every method.

A run folder ``<out>/<method>/<name>/`` holds ``config.json`` (the resolved config), ``metrics.jsonl`` (one
line per evaluation), ``predictions.npz``, ``checkpoints/``, plots, ``run_progress.json`` (where training is,
rewritten with every logged record: :mod:`shared_data.progress`) and, once the run finished, ``result.json``.
Every file is written atomically (temporary file, fsync, rename), so an interrupted run never leaves a
half-written record. The same name with another config is refused instead of silently overwritten.

A run folder belongs to one process at a time: ``RunDir.create`` takes its lock (``.run.lock``, holding the
owner's pid and host), a second process asking for the same folder is refused with the owner's pid, and the lock
goes when the owner calls ``release()``, leaves a ``with`` block, drops the ``RunDir`` or exits. A lock left by
a process that no longer exists (killed) is taken over.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import math
import os
import platform
import re
import socket
import subprocess
import tempfile
import weakref
from importlib import metadata
from pathlib import Path

import numpy as np

from . import errors, identity
from .metrics import SCALAR_METRICS
from .paths import UnsafePathError, inside, safe_name

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
_VERSION_PACKAGES = ("numpy", "scipy", "scikit-learn", "imbalanced-learn", "pandas", "tensorflow", "keras",
                     "tf-keras", "tf-slim", "jax", "jaxlib", "torch", "torchvision", "shared_data")


class RunError(errors.RunFolderError):
    """A run folder cannot be used as asked."""


class ResultValidationError(ValueError):
    pass


# -- atomic writes -------------------------------------------------------------------------------------------

def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes the file private; a record is an ordinary file
        os.replace(tmp, path)
        _fsync_dir(path.parent)  # the rename itself survives a crash only once the folder is synced
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (one the caller may not signal counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_start(pid: int) -> str | None:
    """The kernel's start time of a live process (field 22 of /proc/<pid>/stat), None when it does not exist, has
    exited (a zombie) or there is no /proc. With the pid it names one process: a reused pid has another start."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def remove_orphans(folder: str | os.PathLike, pattern: str = ".*.tmp") -> list[Path]:
    """Delete temporary files (and folders) that a killed writer left in ``folder``: names ``.<name>.<pid>.*``
    whose process no longer exists. A writer that is still running keeps its file."""
    removed = []
    for p in Path(folder).glob(pattern):
        parts = p.name.split(".")
        pid = next((int(x) for x in parts[2:] if x.isdigit()), None)
        if pid is None or pid == os.getpid() or pid_alive(pid):
            continue
        if p.is_dir():
            import shutil

            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        removed.append(p)
    return removed


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


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


# What a run or a report writes into a checkout, and what cannot change a result: publishing a run (results/) or
# regenerating the README's tables must not make the next run of the same checkout "uncommitted code".
NOT_CODE = (":(top,exclude)results", ":(top,exclude,glob)**/*.md")


def git_commit(cwd: str | os.PathLike | None = None) -> str:
    """HEAD of the repository holding ``cwd`` (``+dirty`` when tracked files differ, leaving out ``results/`` and
    Markdown files: see ``NOT_CODE``), or 'unknown'.

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
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", *NOT_CODE], cwd=cwd,
                               capture_output=True, text=True, timeout=10)
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def describe_device(gpus: list[str] | None = None) -> str:
    """The machine a run used, in one string shared by every method: ``cpu: <model> (<n> cores)``, or
    ``gpu: <name> x<count>`` when the method ran on GPUs (it passes their names; shared_data imports no
    framework). Runs of different methods on one machine get the same string, so reports group them."""
    if gpus:
        names = sorted(set(gpus))
        return "gpu: " + ", ".join(f"{n} x{sum(g == n for g in gpus)}" for n in names)
    return describe_cpu()


def framework_version(name: str) -> str:
    """``"torch 2.13.0"``: a framework package and its installed version, for ``result.json``'s ``framework``."""
    try:
        return f"{name} {metadata.version(name)}"
    except metadata.PackageNotFoundError:
        return name


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
        _safe(tag, "--tag")
        parts.append(tag)
    return _safe("-".join(map(str, parts)), "run name")


def _safe(value, what: str) -> str:
    """``paths.safe_name``, as the RunError every run.py turns into its one-line error."""
    try:
        return safe_name(value, what)
    except UnsafePathError as exc:
        raise RunError(str(exc)) from None


def _normalise(cfg: dict) -> dict:
    return json.loads(to_json(cfg))


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
        run = cls(Path(out_root) / _safe(method, "method") / _safe(name, "run name"))
        new = _normalise(config)
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
        "fixes": _normalise(dict(variant.fixes)),
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
        "config": _normalise(config),
        "versions": package_versions(),
        "git_commit": git_commit(),
        "created_utc": utc_now(),
        "command": list(command) if command is not None else None,
        "machine": machine,
        "machine_id": identity.machine_id(machine),
    }
    if extra:
        result["extra"] = _normalise(extra)
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


def device_slug(device: str) -> str:
    """``cpu: Intel(R) Xeon(R) Processor (2 cores)`` -> ``cpu-intel-r-xeon-r-processor-2-cores``."""
    return re.sub(r"[^a-z0-9]+", "-", device.lower()).strip("-")


def _published(path: Path) -> dict:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def same_machine(a: dict, b: dict) -> bool:
    """Whether two records were computed on the same machine: the same device label and, where both have one
    (older records do not), the same ``machine_id``."""
    if a.get("device") != b.get("device"):
        return False
    return not (a.get("machine_id") and b.get("machine_id")) or a["machine_id"] == b["machine_id"]


def publish(run_dir: str | os.PathLike, results_root: str | os.PathLike = "results", allow_dirty: bool = False,
            replace: bool = False) -> Path:
    """Copy a finished run's ``result.json`` to ``<results_root>/<method>/<run name>/result.json``.

    The run folder must pass :func:`validate_run_dir` (what ``python -m shared_data validate RUN_DIR`` checks:
    the result, its predictions, a training log whose every line is whole). A run made from uncommitted code
    (``git_commit`` ending in ``+dirty``) is refused unless ``allow_dirty``. The run's ``metrics.jsonl`` (its
    training log) goes beside it (a run without one is refused), so a published number can be traced back through
    the run that produced it. Both copies are atomic, and the log is copied first: a published ``result.json``
    never sits beside a missing or half-written log. The method and the run folder's name must be plain names, and
    the copy lands inside ``results_root``.

    The same run on another device goes beside an earlier record, to ``<run name>--<device slug>/``: numbers from
    different machines differ in their summation order, so neither may silently take the other's place. "Another
    device" is another device label, or another ``machine_id`` where both records have one (:func:`same_machine`;
    under the same label the folder is then ``<run name>--<device slug>-<machine_id>/``). On the same
    device, publishing the identical result again changes nothing, and a different result is refused unless
    ``replace``.
    """
    run = RunDir(run_dir)
    if not run.is_complete():
        raise RunError(f"{run.path} has no result.json yet (the run has not finished)")
    if not run.metrics_path.exists():
        raise RunError(f"{run.path} has no metrics.jsonl: a published result goes with the training log that "
                       f"produced it")
    try:
        result = validate_run_dir(run.path)
    except ResultValidationError as exc:
        where = "" if str(run.path) in str(exc) else f"{run.path}: "
        raise RunError(f"not published: {where}{exc}") from None
    if result["git_commit"].endswith("+dirty") and not allow_dirty:
        raise RunError(f"{run.path} ran on uncommitted code ({result['git_commit']}): a published result must be "
                       f"reproducible from a commit; commit and re-run, or pass --allow-dirty to publish it anyway")
    name = _safe(run.path.resolve().name, "run folder name")
    target = Path(results_root) / _safe(result["method"], "method") / name / "result.json"
    if target.exists() and not same_machine(_published(target), result):
        other = _published(target)
        suffix = device_slug(result["device"])
        if other.get("device") == result["device"] and result.get("machine_id"):
            suffix += f"-{result['machine_id']}"  # the same label, yet another machine identity
        target = target.parent.with_name(f"{name}--{suffix}") / "result.json"
    try:
        inside(results_root, target.relative_to(results_root), "published record")
    except UnsafePathError as exc:
        raise RunError(str(exc)) from None
    data = run.result_path.read_bytes()
    if result["git_commit"].endswith("+dirty"):  # allowed, and said so in the published record
        data = (to_json(dict(result, published_with_allow_dirty=True)) + "\n").encode()
    if target.exists():
        if target.read_bytes() == data:
            return target  # already published: nothing to do
        if not replace:
            old = _published(target)
            raise RunError(f"{target} already holds another result of this run on this device (created "
                           f"{old.get('created_utc')}, commit {old.get('git_commit')}); pass --replace to replace "
                           f"it (python -m shared_data publish {run.path} --replace)")
    atomic_write_bytes(target.parent / run.metrics_path.name, run.metrics_path.read_bytes())
    atomic_write_bytes(target, data)
    return target
