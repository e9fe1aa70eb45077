"""Readers for the canonical file formats. Each returns uint8 images NHWC and int64 labels, file order kept."""
from __future__ import annotations

import gzip
import pickle
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .fetch import DataError, fetch_dataset, file_digest
from .registry import DatasetSpec, get

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (optionally gzip-compressed), e.g. MNIST's ``train-images-idx3-ubyte.gz``."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read IDX file ({exc})") from exc
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise DataError(f"{path}: not an IDX file (bad magic number)")
    ndim = data[3]
    dims = np.frombuffer(data, ">u4", count=ndim, offset=4).astype(np.int64)
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = 4 + 4 * ndim + int(np.prod(dims)) * dtype.itemsize
    if len(data) != expected:
        raise DataError(f"{path}: IDX payload is {len(data)} bytes, header says {expected}")
    arr = np.frombuffer(data, dtype, offset=4 + 4 * ndim).reshape(tuple(dims))
    return arr.astype(dtype.newbyteorder("=")) if dtype.byteorder == ">" else arr.copy()


def _parse_idx(data: bytes, name: str) -> np.ndarray:
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise DataError(f"{name}: not an IDX file (bad magic number)")
    ndim = data[3]
    dims = np.frombuffer(data, ">u4", count=ndim, offset=4).astype(np.int64)
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    if len(data) != 4 + 4 * ndim + int(np.prod(dims)) * dtype.itemsize:
        raise DataError(f"{name}: IDX payload does not match its header")
    arr = np.frombuffer(data, dtype, offset=4 + 4 * ndim).reshape(tuple(dims))
    return arr.astype(dtype.newbyteorder("=")) if dtype.byteorder == ">" else arr.copy()


def read_emnist_digits_zip(path: str | Path):
    """EMNIST's ``gzip.zip``: the Digits split's four idx files, images transposed to MNIST's orientation."""
    import zipfile

    out = []
    try:
        with zipfile.ZipFile(path) as zf:
            names = {n.rsplit("/", 1)[-1]: n for n in zf.namelist()}
            for part, kind in (("train", "images-idx3"), ("train", "labels-idx1"), ("test", "images-idx3"),
                               ("test", "labels-idx1")):
                member = f"emnist-digits-{part}-{kind}-ubyte.gz"
                if member not in names:
                    raise DataError(f"{path}: EMNIST archive lacks {member}")
                out.append(_parse_idx(gzip.decompress(zf.read(names[member])), member))
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: cannot read EMNIST archive ({exc})") from exc
    x_train, y_train, x_test, y_test = out
    return (np.ascontiguousarray(np.swapaxes(x_train, 1, 2)), y_train.astype(np.int64),
            np.ascontiguousarray(np.swapaxes(x_test, 1, 2)), y_test.astype(np.int64))


def _tar_members(path: str | Path, names, title: str) -> dict[str, bytes]:
    """The bytes of each named file (by base name) in a ``.tar.gz``; a missing one or a broken archive is a
    DataError naming the archive."""
    found = {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar.getmembers():
                base = member.name.rsplit("/", 1)[-1]
                if base in names and member.isfile():
                    found[base] = tar.extractfile(member).read()
    except (OSError, EOFError, tarfile.TarError) as exc:
        raise DataError(f"{path}: cannot read {title} archive ({exc})") from exc
    missing = [n for n in names if n not in found]
    if missing:
        raise DataError(f"{path}: {title} archive lacks {', '.join(missing)}")
    return found


def read_stl10_archive(path: str | Path):
    """``stl10_binary.tar.gz``: ``{train,test}_X.bin`` hold 3x96x96 column-major planes per image, ``*_y.bin``
    labels 1..10 (mapped to 0..9). Returns NHWC uint8 images in file order."""
    found = _tar_members(path, ("train_X.bin", "train_y.bin", "test_X.bin", "test_y.bin"), "STL-10")
    out = []
    for part in ("train", "test"):
        raw = np.frombuffer(found[f"{part}_X.bin"], np.uint8)
        if raw.size % (3 * 96 * 96):
            raise DataError(f"{path}: {part}_X.bin is not a whole number of 3x96x96 images")
        x = raw.reshape(-1, 3, 96, 96).transpose(0, 3, 2, 1)  # planes are stored column by column
        y = np.frombuffer(found[f"{part}_y.bin"], np.uint8).astype(np.int64)
        if len(y) != len(x) or y.min() < 1 or y.max() > 10:
            raise DataError(f"{path}: {part}_y.bin does not hold one label 1..10 per image")
        out += [np.ascontiguousarray(x), y - 1]
    return tuple(out)


def read_image_folder(root: str | Path, classes: tuple[str, ...]):
    """An ImageFolder-style tree ``root/<class>/<image>`` (e.g. CINIC-10's ``train/``): classes in the given order,
    files in sorted name order within each class (as ``sorted(os.walk)`` lists them). Returns (NHWC uint8, labels)."""
    from PIL import Image

    root = Path(root)
    xs, ys = [], []
    for label, name in enumerate(classes):
        folder = root / name
        if not folder.is_dir():
            raise DataError(f"{root}: no folder for class {name!r}")
        for f in sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg")):
            with Image.open(f) as im:
                xs.append(np.asarray(im.convert("RGB"), dtype=np.uint8))
            ys.append(label)
    if not xs:
        raise DataError(f"{root}: no images")
    return np.stack(xs), np.asarray(ys, dtype=np.int64)


def read_svhn_mat(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read SVHN's ``*_32x32.mat`` (X: 32x32x3xN uint8, y: Nx1 with 10 meaning digit 0)."""
    import scipy.io

    try:
        mat = scipy.io.loadmat(str(path))
    except Exception as exc:  # scipy raises several types for truncated or foreign files
        raise DataError(f"{path}: cannot read SVHN .mat file ({exc})") from exc
    if "X" not in mat or "y" not in mat:
        raise DataError(f"{path}: SVHN .mat file lacks the X or y variable")
    x = np.ascontiguousarray(np.transpose(mat["X"], (3, 0, 1, 2))).astype(np.uint8)
    y = mat["y"].reshape(-1).astype(np.int64)
    if x.shape[1:] != (32, 32, 3) or len(x) != len(y):
        raise DataError(f"{path}: unexpected SVHN shapes X{x.shape} y{y.shape}")
    if y.min() < 1 or y.max() > 10:
        raise DataError(f"{path}: SVHN labels outside 1..10")
    y[y == 10] = 0
    return x, y


def _cifar_batch(raw: bytes, name: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        d = pickle.loads(raw, encoding="bytes")
        data, labels = d[b"data"], d[b"labels"]
    except Exception as exc:
        raise DataError(f"CIFAR-10 batch {name}: cannot unpickle ({exc})") from exc
    data = np.asarray(data, dtype=np.uint8)
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise DataError(f"CIFAR-10 batch {name}: unexpected shape {data.shape}")
    x = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(x), np.asarray(labels, dtype=np.int64)


def read_cifar10_archive(path: str | Path, batch_md5: dict[str, str] | None = None):
    """Read ``cifar-10-python.tar.gz``: train = data_batch_1..5 in order, test = test_batch."""
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    batches = _tar_members(path, names, "CIFAR-10")
    if batch_md5:
        import hashlib

        for n in names:
            got = hashlib.md5(batches[n]).hexdigest()
            if n in batch_md5 and got != batch_md5[n]:
                raise DataError(f"{path}: {n} md5 {got} != expected {batch_md5[n]}")
    train = [_cifar_batch(batches[n], n) for n in names[:5]]
    x_test, y_test = _cifar_batch(batches["test_batch"], "test_batch")
    x_train = np.concatenate([b[0] for b in train])
    y_train = np.concatenate([b[1] for b in train])
    return x_train, y_train, x_test, y_test


@dataclass
class Dataset:
    spec: DatasetSpec
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    sources: dict[str, dict]  # role -> {"file", "md5", "sha256"}


def load_dataset(name: str, data_root=None, mirrors=None, download: bool = True, quiet: bool = False) -> Dataset:
    """Locate, verify and read a registered dataset in the official file order."""
    spec = get(name)
    paths = fetch_dataset(spec, data_root, mirrors, download=download, quiet=quiet)
    if spec.reader == "idx":
        x_train, y_train = read_idx(paths["train_images"]), read_idx(paths["train_labels"])
        x_test, y_test = read_idx(paths["test_images"]), read_idx(paths["test_labels"])
        x_train, x_test = x_train[..., None], x_test[..., None]
    elif spec.reader == "svhn_mat":
        x_train, y_train = read_svhn_mat(paths["train"])
        x_test, y_test = read_svhn_mat(paths["test"])
    elif spec.reader == "cifar10":
        x_train, y_train, x_test, y_test = read_cifar10_archive(paths["archive"], spec.extra.get("batch_md5"))
    elif spec.reader == "emnist_digits":
        x_train, y_train, x_test, y_test = read_emnist_digits_zip(paths["archive"])
        x_train, x_test = x_train[..., None], x_test[..., None]
    elif spec.reader == "stl10":
        x_train, y_train, x_test, y_test = read_stl10_archive(paths["archive"])
    else:  # pragma: no cover - guarded by fetch_dataset's loadable check
        raise DataError(f"{spec.name}: no reader")
    y_train, y_test = y_train.astype(np.int64), y_test.astype(np.int64)
    for part, x, y, n in (("train", x_train, y_train, spec.n_train), ("test", x_test, y_test, spec.n_test)):
        if x.shape != (n, *spec.image_shape) or y.shape != (n,):
            raise DataError(f"{spec.name} {part}: got images {x.shape} labels {y.shape}, registry expects "
                            f"{(n, *spec.image_shape)}")
        if y.min() < 0 or y.max() >= spec.num_classes:
            raise DataError(f"{spec.name} {part}: labels outside 0..{spec.num_classes - 1}")
    if spec.train_class_counts:
        found = tuple(np.bincount(y_train, minlength=spec.num_classes).tolist())
        if found != spec.train_class_counts:
            raise DataError(f"{spec.name} train: per-class counts {found} differ from the registry's "
                            f"{spec.train_class_counts}; the files are not the official ones")
    sources = {role: {"file": spec.files[role].relpath, "md5": spec.files[role].md5,
                      "sha256": spec.files[role].sha256} for role in paths}
    return Dataset(spec, x_train, y_train, x_test, y_test, sources)


__all__ = ["read_idx", "read_svhn_mat", "read_cifar10_archive", "read_emnist_digits_zip", "read_stl10_archive",
           "read_image_folder", "load_dataset", "Dataset", "file_digest"]
