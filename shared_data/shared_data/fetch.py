"""Find a canonical dataset file and verify it: data root first, then mirrors, then a download.

Nothing half-written is ever left under a data root: downloads go to a temporary file in the target folder
and are renamed into place only after their checksum matched.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
from pathlib import Path
from typing import Iterable

from . import errors
from .registry import DatasetSpec, FileSpec, get

MIRROR_ENV = "SHARED_DATA_MIRROR"
DEFAULT_DATA_ROOT = "data"


class DataError(errors.DataError):
    """A dataset file is missing or corrupt. The message is one line that says what to do."""


def file_digest(path: str | os.PathLike, algo: str = "md5", chunk: int = 1 << 20) -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def mirror_dirs(mirrors: Iterable[str | os.PathLike] | None = None) -> list[Path]:
    """Mirrors given explicitly, then those in $SHARED_DATA_MIRROR (':'-separated)."""
    out = [Path(m) for m in (mirrors or [])]
    env = os.environ.get(MIRROR_ENV, "")
    out += [Path(p) for p in env.split(os.pathsep) if p]
    seen, unique = set(), []
    for p in out:
        key = str(p.resolve()) if p.exists() else str(p)
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


def verify(path: Path, spec: FileSpec) -> str | None:
    """Return None if the file matches its checksums, else a short reason."""
    if spec.size is not None and path.stat().st_size != spec.size:
        return f"size {path.stat().st_size} != expected {spec.size}"
    md5 = file_digest(path, "md5")
    if md5 != spec.md5:
        return f"md5 {md5} != expected {spec.md5}"
    if spec.sha256 is not None:
        sha = file_digest(path, "sha256")
        if sha != spec.sha256:
            return f"sha256 {sha} != expected {spec.sha256}"
    return None


def _download(spec: FileSpec, target: Path, quiet: bool = False) -> str | None:
    """Try each URL; return None on success, else the last error as text."""
    from tqdm import tqdm

    target.parent.mkdir(parents=True, exist_ok=True)
    last = "no URL"
    for url in spec.urls:
        fd, tmp = tempfile.mkstemp(prefix=f".{spec.name}.", suffix=".part", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=30) as resp:
                total = int(resp.headers.get("Content-Length") or 0) or None
                with tqdm(total=total, unit="B", unit_scale=True, desc=spec.name, disable=quiet) as bar:
                    while block := resp.read(1 << 20):
                        out.write(block)
                        bar.update(len(block))
            bad = verify(Path(tmp), spec)
            if bad:
                last = f"{url}: downloaded file failed its checksum ({bad})"
                continue
            os.replace(tmp, target)
            return None
        except OSError as exc:  # URLError, timeouts, DNS failures are OSErrors
            last = f"{url}: {exc}"
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return last


def locate(spec: FileSpec, data_root: str | os.PathLike | None = None,
           mirrors: Iterable[str | os.PathLike] | None = None, download: bool = True,
           quiet: bool = False) -> Path:
    """Return the path of a verified copy of ``spec``.

    Order: ``<data_root>/<folder>/<name>``, then ``<mirror>/<folder>/<name>`` for each mirror, then a download
    into the data root. A corrupt copy in the data root is never used or overwritten silently: it is reported.
    """
    root = Path(data_root or DEFAULT_DATA_ROOT)
    candidates = [root / spec.relpath] + [m / spec.relpath for m in mirror_dirs(mirrors)]
    for path in candidates:
        if path.is_file():
            bad = verify(path, spec)
            if bad is None:
                return path
            # A corrupt copy earlier in the search order is reported rather than silently passed over.
            source = spec.urls[0] if spec.urls else "its owners"
            raise DataError(f"{spec.name}: checksum mismatch: {path} is corrupt ({bad}); delete it and re-run, "
                            f"or replace it with a fresh copy from {source}")
    searched = ", ".join(str(p.parent) for p in candidates)
    err = _download(spec, root / spec.relpath, quiet=quiet) if download and spec.urls else "downloads disabled"
    if err is None:
        return root / spec.relpath
    raise DataError(f"{spec.name} not found (searched {searched}) and download failed ({err}); put the file "
                    f"in {root / spec.folder} or point --mirror / ${MIRROR_ENV} at a folder that holds "
                    f"{spec.relpath}")


def fetch_dataset(name: str | DatasetSpec, data_root=None, mirrors=None, download: bool = True,
                  quiet: bool = False) -> dict[str, Path]:
    """Locate and verify every canonical file of a dataset; return role -> path."""
    ds = name if isinstance(name, DatasetSpec) else get(name)
    if not ds.loadable:
        raise DataError(f"{ds.name}: declared in the registry but not loadable by shared_data yet ({ds.notes or 'no verified files'})")
    return {role: locate(spec, data_root, mirrors, download, quiet) for role, spec in ds.files.items()}


def copy_into(paths: dict[str, Path], ds: DatasetSpec, data_root) -> None:
    """Copy verified files (e.g. from a mirror) into the data root, atomically."""
    for role, src in paths.items():
        dst = Path(data_root) / ds.files[role].relpath
        if dst.exists() and dst.resolve() == src.resolve():
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".part", dir=dst.parent)
        os.close(fd)
        try:
            shutil.copyfile(src, tmp)
            os.replace(tmp, dst)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
