"""Atomic writes and the temporary files a killed writer leaves behind.

Every record of the project (run folders, splits, reports) is written through :func:`atomic_write_bytes`: a
temporary sibling ``.<name>.<pid>.*.tmp``, flushed and synced, renamed into place, and its folder synced, so an
interrupted writer never leaves a half-written file. :func:`remove_orphans` deletes the temporary files of a
writer whose process no longer exists (:func:`pid_alive`). JSON is key-sorted (:func:`to_json`).
"""
from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np


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


def normalise_json(obj):
    """``obj`` as JSON would read it back (numpy types and paths converted, tuples as lists, keys as strings)."""
    return json.loads(to_json(obj))
