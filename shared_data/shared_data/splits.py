"""The split artefact: written once, identified by a content hash, read by every method.

A split folder holds ``train.npz`` and ``test.npz`` (keys ``x`` uint8 NHWC, ``y`` int64 original labels,
``index`` int64 positions in the official file), ``manifest.json`` and, for 28x28 datasets by default,
``train.csv``/``test.csv`` in the layout GAMO's scripts read (pixels 0-255 row-major, then the label last,
no header). Same inputs give the same bytes in every environment: the NPZ members carry a fixed timestamp,
the JSON is key-sorted, the CSV is integer text.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import protocols
from .fetch import DataError, DEFAULT_DATA_ROOT
from .paths import UnsafePathError, inside, safe_name
from .records import remove_orphans
from .readers import load_dataset
from .registry import canonical_name, get

MANIFEST_SCHEMA = "shared_data/split/v1"
ARRAY_ORDER = ("x_train", "y_train", "idx_train", "x_test", "y_test", "idx_test")
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass
class Split:
    dataset: str
    protocol: str
    split_seed: int
    x_train: np.ndarray
    y_train: np.ndarray
    idx_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    idx_test: np.ndarray
    manifest: dict = field(default_factory=dict)
    path: Path | None = None

    @property
    def split_id(self) -> str:
        return self.manifest["split_id"]

    @property
    def split_hash(self) -> str:
        return self.manifest["content_hash"]

    @property
    def train_counts(self) -> list[int]:
        return list(self.manifest["train_counts"])

    @property
    def num_classes(self) -> int:
        return len(self.manifest["classes"])

    @property
    def eval_subset(self):
        """``"full"``: the protocol's whole test set; an int N: the first N test images of each class."""
        return self.manifest.get("test_per_class") or "full"

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: getattr(self, k) for k in ARRAY_ORDER}


def content_hash(arrays: dict[str, np.ndarray]) -> str:
    """sha256 over each array's name, dtype, shape and bytes, in a fixed order."""
    h = hashlib.sha256()
    for name in ARRAY_ORDER:
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _class_counts(y: np.ndarray, num_classes: int) -> list[int]:
    return np.bincount(y, minlength=num_classes).astype(int).tolist()


def build_split(dataset: str, protocol: str, split_seed: int, imbalance: int = 1, ir: float | None = None,
                counts: list[int] | None = None, data_root=None, mirrors=None, download: bool = True,
                minority: int | None = None) -> Split:
    """Draw a split in memory from the verified official files (``minority``: the ``dfg`` protocol only)."""
    spec = get(dataset)
    entry = protocols.lookup(protocol)
    protocols.resolve(spec, protocol, imbalance, ir, counts, minority=minority)  # refused before any download
    ds = load_dataset(spec.name, data_root, mirrors, download=download)
    resolved, record = protocols.resolve(spec, protocol, imbalance, ir, counts, ds.y_train, minority, int(split_seed))
    if protocols.uses_profile(imbalance, counts):  # its identity fields, defaults filled in, name the split
        asked = entry.identity(spec, ir, minority)
        ir, minority = asked.get("ir", ir), asked.get("minority", minority)
    idx_train, idx_test = protocols.select(protocol, ds.y_train, ds.y_test, resolved, int(split_seed))
    arrays = {
        "x_train": ds.x_train[idx_train], "y_train": ds.y_train[idx_train], "idx_train": idx_train,
        "x_test": ds.x_test[idx_test], "y_test": ds.y_test[idx_test], "idx_test": idx_test,
    }
    train_counts = _class_counts(arrays["y_train"], spec.num_classes)
    manifest = {
        "schema": MANIFEST_SCHEMA,
        "split_id": protocols.split_id(spec.name, protocol, int(split_seed), imbalance, ir, counts, minority),
        "dataset": spec.name,
        "protocol": protocol,
        "split_seed": int(split_seed),
        "imbalance": int(imbalance),
        "ir_requested": None if ir is None else float(ir),
        "explicit_counts": counts is not None,
        "classes": list(spec.classes),
        "image_shape": list(spec.image_shape),
        "train_counts": train_counts,
        "test_counts": _class_counts(arrays["y_test"], spec.num_classes),
        "imbalance_ratio": max(train_counts) / max(1, min(train_counts)),
        "n_train": int(len(idx_train)),
        "n_test": int(len(idx_test)),
        "unique_train_images": int(len(np.unique(idx_train))),
        "unique_test_images": int(len(np.unique(idx_test))),
        "sources": ds.sources,
        "content_hash": content_hash(arrays),
    }
    if record:
        manifest[entry.name] = record
    return Split(spec.name, protocol, int(split_seed), **arrays, manifest=manifest)


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, arr in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
            info.external_attr = 0o644 << 16
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(arr), allow_pickle=False)
            zf.writestr(info, member.getvalue())
    return buf.getvalue()


_CSV_ROWS_PER_BLOCK = 4096  # bounds the formatting buffer (rows x columns x 4 bytes for pixel values)


def _csv_bytes(x: np.ndarray, y: np.ndarray) -> bytes:
    """Rows of pixel values then the label, byte for byte what ``np.savetxt(table, fmt="%d", delimiter=",")``
    writes. savetxt formats every number in Python (tens of seconds for 70,000 MNIST rows); here each value is
    looked up in a table of its decimal digits. Negative or large values go through savetxt itself."""
    table = np.concatenate([x.reshape(len(x), -1).astype(np.int64), y.reshape(-1, 1)], axis=1)
    if table.size == 0 or table.min() < 0 or table.max() > 65535:
        buf = io.StringIO()
        np.savetxt(buf, table, fmt="%d", delimiter=",")
        return buf.getvalue().encode()
    digits = [b"%d" % v for v in range(int(table.max()) + 1)]
    width = max(len(d) for d in digits) + 1  # the digits and one separator
    lookup = np.zeros((len(digits), width), np.uint8)
    lengths = np.array([len(d) for d in digits])
    for v, d in enumerate(digits):
        lookup[v, :len(d)] = np.frombuffer(d, np.uint8)
    separators = np.full(table.shape[1], ord(","), np.uint8)
    separators[-1] = ord("\n")
    position = np.arange(width)
    out = []
    for start in range(0, len(table), _CSV_ROWS_PER_BLOCK):
        block = table[start:start + _CSV_ROWS_PER_BLOCK]
        chars = lookup[block]  # (rows, columns, width): each value's digits, zero-padded
        n = lengths[block][..., None]
        chars[position == n] = np.broadcast_to(separators, block.shape).ravel()
        out.append(chars[position <= n].tobytes())
    return b"".join(out)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_split(split: Split, out_dir: str | os.PathLike, csv: bool | None = None) -> Path:
    """Write a split folder atomically (a temporary sibling renamed into place).

    An existing folder with the same content hash is kept as is; one with another hash is an error.
    """
    out = Path(out_dir)
    if out.exists():
        existing = load_split(out)
        if existing.split_hash != split.split_hash:
            raise DataError(f"{out} already holds a different split ({existing.split_hash[:12]} != "
                            f"{split.split_hash[:12]}); choose another --out or delete it")
        return out
    if csv is None:
        csv = split.x_train.shape[1:3] == (28, 28)
    files = {
        "train.npz": _npz_bytes({"x": split.x_train, "y": split.y_train, "index": split.idx_train}),
        "test.npz": _npz_bytes({"x": split.x_test, "y": split.y_test, "index": split.idx_test}),
    }
    if csv:
        files["train.csv"] = _csv_bytes(split.x_train, split.y_train)
        files["test.csv"] = _csv_bytes(split.x_test, split.y_test)
    manifest = dict(split.manifest, files={name: _sha256(data) for name, data in sorted(files.items())})
    files["manifest.json"] = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_orphans(out.parent, f".{out.name}.*")  # a writer killed earlier left its temporary folder
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.{os.getpid()}.", dir=out.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; a split is a shared artefact
    try:
        for name, data in files.items():
            (tmp / name).write_bytes(data)
        try:
            os.rename(tmp, out)
        except OSError:
            if not out.exists():  # the rename failed for another reason than a concurrent writer
                raise
            # Another process wrote the same split first; check it is the same one.
            return write_split(split, out, csv)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    split.manifest, split.path = manifest, out
    return out


def load_split(path: str | os.PathLike, verify: bool = True) -> Split:
    """Read a split folder; with ``verify`` the content hash is recomputed and must match the manifest."""
    path = Path(path)
    try:
        manifest = _read_manifest(path)
        with np.load(path / "train.npz") as tr, np.load(path / "test.npz") as te:
            arrays = {"x_train": tr["x"], "y_train": tr["y"], "idx_train": tr["index"],
                      "x_test": te["x"], "y_test": te["y"], "idx_test": te["index"]}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: unreadable split folder ({exc.__class__.__name__}: {exc}); delete it to "
                        f"have it written again") from exc
    if verify and content_hash(arrays) != manifest.get("content_hash"):
        raise DataError(f"{path}: split content does not match its manifest hash; delete the folder to have it "
                        f"written again")
    if verify:
        num_classes = len(manifest.get("classes", [])) or int(max(arrays["y_train"].max(), arrays["y_test"].max())) + 1
        for part in ("train", "test"):
            found = _class_counts(arrays[f"y_{part}"], num_classes)
            if found != manifest.get(f"{part}_counts"):
                raise DataError(f"{path}: {part} labels count {found} per class, the manifest says "
                                f"{manifest.get(f'{part}_counts')}; delete the folder to have it written again")
        problems = identity_problems(manifest, arrays)
        if problems:
            raise DataError(f"{path}: the manifest does not describe the split it holds ({'; '.join(problems)}); "
                            f"delete the folder to have it written again")
    return Split(manifest["dataset"], manifest["protocol"], manifest["split_seed"], **arrays, manifest=manifest,
                 path=path)


def _read_manifest(path: Path) -> dict:
    manifest = json.loads((path / "manifest.json").read_text())
    if not isinstance(manifest, dict):
        raise ValueError(f"manifest.json holds a JSON {type(manifest).__name__}, not an object")
    return manifest


def identity_problems(manifest: dict, arrays: dict[str, np.ndarray]) -> list[str]:
    """What the manifest says about the split that the arrays contradict: its id (derived again from the dataset,
    protocol, seed, imbalance, ratio, explicit counts and test subset it records), its sizes, its imbalance ratio
    and its test subset. Empty when the manifest describes these arrays."""
    problems = []
    try:
        spec = get(manifest["dataset"])
        train_counts, test_counts = list(manifest["train_counts"]), list(manifest["test_counts"])
        per_class = manifest.get("test_per_class")
        expected_id = protocols.split_id(
            manifest["dataset"], manifest["protocol"], manifest["split_seed"], manifest["imbalance"],
            manifest["ir_requested"], train_counts if manifest["explicit_counts"] else None,
            (manifest.get(manifest["protocol"]) or {}).get("minority")) + (f"-test{per_class}" if per_class else "")
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return [f"identity field missing or malformed ({exc.__class__.__name__}: {exc})"]
    if manifest.get("split_id") != expected_id:
        problems.append(f"split_id {manifest.get('split_id')!r}, its fields give {expected_id!r}")
    if manifest.get("classes") != list(spec.classes):
        problems.append(f"classes are not {spec.name}'s")
    shape = list(arrays["x_train"].shape[1:])
    if manifest.get("image_shape") != shape:
        problems.append(f"image_shape {manifest.get('image_shape')} but the images are {shape}")
    for part in ("train", "test"):
        n, unique = len(arrays[f"y_{part}"]), len(np.unique(arrays[f"idx_{part}"]))
        if manifest.get(f"n_{part}") != n:
            problems.append(f"n_{part} {manifest.get(f'n_{part}')} but {n} images")
        if manifest.get(f"unique_{part}_images") != unique:
            problems.append(f"unique_{part}_images {manifest.get(f'unique_{part}_images')} but {unique}")
    ratio = max(train_counts) / max(1, min(train_counts)) if train_counts else None
    recorded = manifest.get("imbalance_ratio")
    if ratio is None or not isinstance(recorded, (int, float)) or abs(recorded - ratio) > 1e-9 * ratio:
        problems.append(f"imbalance_ratio {recorded!r}, the counts give {ratio!r}")
    if per_class is not None:
        if not isinstance(per_class, int) or isinstance(per_class, bool) or per_class < 1:
            problems.append(f"test_per_class {per_class!r} is not a count >= 1")
        elif max(test_counts, default=0) > per_class:
            problems.append(f"test_per_class {per_class} but a class has {max(test_counts)} test images")
    return problems


def verify_files(path: str | os.PathLike) -> Split:
    """Check every file of a split folder against the sha256 its manifest records, then the arrays against the
    manifest's content hash, per-class counts and identity fields (what ``python -m shared_data verify`` runs).
    Every file the manifest names must be a plain name inside the folder."""
    path = Path(path)
    try:
        manifest = _read_manifest(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: no readable manifest.json ({exc})") from exc
    files = manifest.get("files")
    if not files or not isinstance(files, dict) or not all(isinstance(d, str) for d in files.values()):
        raise DataError(f"{path}/manifest.json lists no files with their sha256 (a JSON object of name: digest)")
    for name in files:
        try:
            inside(path, safe_name(name, "a file named in manifest.json"), "a file named in manifest.json")
        except UnsafePathError as exc:
            raise DataError(f"{path}: {exc}; the manifest is not this project's, delete the folder to have it "
                            f"written again") from None
    for name, digest in sorted(files.items()):
        try:
            data = (path / name).read_bytes()
        except OSError as exc:
            raise DataError(f"{path}/{name}: listed in the manifest but unreadable ({exc.strerror})") from exc
        if _sha256(data) != digest:
            raise DataError(f"{path}/{name}: sha256 {_sha256(data)[:16]}... differs from the manifest's "
                            f"{digest[:16]}...; delete the folder to have it written again")
    return load_split(path)


def default_split_dir(split_name: str, data_root=None) -> Path:
    return Path(data_root or DEFAULT_DATA_ROOT) / "splits" / split_name


def test_subset(split: Split, per_class: int) -> Split:
    """The same split scored on the first ``per_class`` test images of each class, in the protocol's test order.

    The subset is part of the split's identity: its id gains ``-test<N>``, its content hash covers the cut
    arrays and the manifest records ``test_per_class`` and the full split's hash.
    """
    per_class = int(per_class)
    if per_class < 1:
        raise DataError(f"test_per_class must be >= 1, got {per_class}")
    keep = np.sort(np.concatenate([np.flatnonzero(split.y_test == c)[:per_class]
                                   for c in range(split.num_classes)]))
    arrays = dict(split.arrays(), x_test=split.x_test[keep], y_test=split.y_test[keep], idx_test=split.idx_test[keep])
    manifest = dict(split.manifest, split_id=f"{split.split_id}-test{per_class}", test_per_class=per_class,
                    full_split_hash=split.split_hash, content_hash=content_hash(arrays), n_test=int(len(keep)),
                    test_counts=_class_counts(arrays["y_test"], split.num_classes),
                    unique_test_images=int(len(np.unique(arrays["idx_test"]))))
    return Split(split.dataset, split.protocol, split.split_seed, **arrays, manifest=manifest, path=split.path)


def get_split(dataset: str, protocol: str, split_seed: int, imbalance: int = 1, ir: float | None = None,
              counts: list[int] | None = None, data_root=None, mirrors=None, out_dir=None,
              download: bool = True, test_per_class: int | None = None, minority: int | None = None) -> Split:
    """The split every method trains on: read from ``<data_root>/splits/<split_id>`` or written there once.

    ``test_per_class=N`` scores on the first N test images of each class (:func:`test_subset`); the
    contract cuts the test set, never a method. ``minority`` (and ``ir``) parameterise the ``dfg`` protocol;
    the manifest records its minority classes.
    """
    if test_per_class is not None:
        full = get_split(dataset, protocol, split_seed, imbalance, ir, counts, data_root, mirrors, out_dir, download,
                         minority=minority)
        return test_subset(full, test_per_class)
    spec = get(dataset)
    resolved = protocols.resolve_counts(spec, protocol, imbalance, ir, counts, minority=minority)  # fails early
    entry = protocols.lookup(protocol)
    asked_identity = entry.identity(spec, ir, minority) if protocols.uses_profile(imbalance, counts) else {}
    ir, minority = asked_identity.get("ir", ir), asked_identity.get("minority", minority)
    name = protocols.split_id(canonical_name(dataset), protocol, int(split_seed), imbalance, ir, counts, minority)
    target = Path(out_dir) if out_dir else default_split_dir(name, data_root)
    if (target / "manifest.json").exists():
        split = load_split(target)
        m = split.manifest
        asked = (spec.name, protocol, int(split_seed), resolved if resolved is not None else m["train_counts"])
        found = (m["dataset"], m["protocol"], m["split_seed"], m["train_counts"])
        if asked_identity:  # the protocol's identity fields, as its manifest record holds them
            recorded = m.get(entry.name) or {}
            asked = asked + (tuple(asked_identity.values()),)
            found = found + (tuple(recorded.get(key) for key in asked_identity),)
        if asked != found:
            raise DataError(f"{target} holds {found[:3]} with counts {found[3]}, not the requested split; "
                            f"delete it to have it written again")
        return split
    split = build_split(dataset, protocol, split_seed, imbalance, ir, counts, data_root, mirrors, download,
                        minority)
    write_split(split, target)
    return load_split(target)
