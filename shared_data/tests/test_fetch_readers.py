import dataclasses
import gzip
import hashlib
import io
import pickle
import tarfile

import numpy as np
import pytest
import scipy.io

from shared_data import fetch, readers, registry
from shared_data.fetch import DataError


def _md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


def _write_idx(path, arr):
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


def test_idx_round_trip_and_corrupt_file(tmp_path):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    _write_idx(tmp_path / "a.gz", arr)
    np.testing.assert_array_equal(readers.read_idx(tmp_path / "a.gz"), arr)
    (tmp_path / "b.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match="b.gz"):
        readers.read_idx(tmp_path / "b.gz")
    raw = gzip.compress(bytes([0, 0, 0x08, 1]) + (5).to_bytes(4, "big") + b"abc")  # payload too short
    (tmp_path / "c.gz").write_bytes(raw)
    with pytest.raises(DataError, match="header says"):
        readers.read_idx(tmp_path / "c.gz")


def _svhn_mat(path, n, seed):
    rng = np.random.RandomState(seed)
    x = rng.randint(0, 256, (32, 32, 3, n)).astype(np.uint8)
    y = (np.arange(n) % 10 + 1).reshape(n, 1).astype(np.uint8)  # 1..10, 10 = digit 0
    scipy.io.savemat(str(path), {"X": x, "y": y})
    return x, y


def test_svhn_reader_maps_label_10_to_0_and_keeps_nhwc(tmp_path):
    x, y = _svhn_mat(tmp_path / "train_32x32.mat", 12, 0)
    xr, yr = readers.read_svhn_mat(tmp_path / "train_32x32.mat")
    assert xr.shape == (12, 32, 32, 3) and xr.dtype == np.uint8
    np.testing.assert_array_equal(xr[5], x[:, :, :, 5])
    assert yr.tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2]


def _cifar_archive(path, n_per_batch, seed):
    rng = np.random.RandomState(seed)
    batches = {}
    with tarfile.open(path, "w:gz") as tar:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            data = rng.randint(0, 256, (n_per_batch, 3072)).astype(np.uint8)
            labels = list(rng.randint(0, 10, n_per_batch))
            raw = pickle.dumps({b"data": data, b"labels": labels, b"batch_label": name.encode()}, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
            batches[name] = (data, labels, hashlib.md5(raw).hexdigest())
    return batches


def test_cifar10_reader_orders_batches_and_converts_planes_to_nhwc(tmp_path):
    batches = _cifar_archive(tmp_path / "cifar-10-python.tar.gz", 4, 0)
    md5s = {k: v[2] for k, v in batches.items()}
    xtr, ytr, xte, yte = readers.read_cifar10_archive(tmp_path / "cifar-10-python.tar.gz", md5s)
    assert xtr.shape == (20, 32, 32, 3) and xte.shape == (4, 32, 32, 3)
    data1 = batches["data_batch_2"][0]
    # image 0 of batch 2 is training image 4; its red plane is the first 1024 bytes
    np.testing.assert_array_equal(xtr[4, :, :, 0], data1[0, :1024].reshape(32, 32))
    np.testing.assert_array_equal(xtr[4, :, :, 2], data1[0, 2048:].reshape(32, 32))
    assert ytr[4:8].tolist() == batches["data_batch_2"][1]
    with pytest.raises(DataError, match="test_batch md5"):
        readers.read_cifar10_archive(tmp_path / "cifar-10-python.tar.gz", dict(md5s, test_batch="0" * 32))


def _small_spec(spec, files, n_train, n_test):
    # small files in the real format: their class counts are whatever the test wrote, not the official ones
    return dataclasses.replace(spec, files=files, n_train=n_train, n_test=n_test, train_class_counts=None)


def test_load_dataset_svhn_and_cifar10_through_the_registry(tmp_path, monkeypatch):
    (tmp_path / "svhn").mkdir()
    _svhn_mat(tmp_path / "svhn" / "train_32x32.mat", 20, 1)
    _svhn_mat(tmp_path / "svhn" / "test_32x32.mat", 10, 2)
    files = {role: dataclasses.replace(f, md5=_md5(tmp_path / f.relpath), urls=())
             for role, f in registry.SVHN.files.items()}
    monkeypatch.setitem(registry.DATASETS, "svhn", _small_spec(registry.SVHN, files, 20, 10))
    ds = readers.load_dataset("svhn", data_root=tmp_path, download=False)
    assert ds.x_train.shape == (20, 32, 32, 3) and set(ds.y_test.tolist()) == set(range(10))

    (tmp_path / "cifar10").mkdir()
    batches = _cifar_archive(tmp_path / "cifar10" / "cifar-10-python.tar.gz", 3, 3)
    arch = dataclasses.replace(registry.CIFAR10.files["archive"], size=None,
                               md5=_md5(tmp_path / "cifar10" / "cifar-10-python.tar.gz"), urls=())
    spec = dataclasses.replace(_small_spec(registry.CIFAR10, {"archive": arch}, 15, 3),
                               extra={"batch_md5": {k: v[2] for k, v in batches.items()}})
    monkeypatch.setitem(registry.DATASETS, "cifar10", spec)
    ds = readers.load_dataset("cifar10", data_root=tmp_path, download=False)
    assert ds.x_train.shape == (15, 32, 32, 3) and ds.y_train.dtype == np.int64


def test_mirror_then_checksum_then_clear_errors(tmp_path, mirror, monkeypatch):
    spec = registry.MNIST.files["train_labels"]
    monkeypatch.delenv(fetch.MIRROR_ENV, raising=False)
    assert fetch.locate(spec, tmp_path / "root", [mirror], download=False) == mirror / spec.relpath
    monkeypatch.setenv(fetch.MIRROR_ENV, str(mirror))
    assert fetch.locate(spec, tmp_path / "root", None, download=False) == mirror / spec.relpath
    # a corrupt copy in the data root is reported, not used and not overwritten
    bad = tmp_path / "root" / spec.relpath
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"corrupt")
    with pytest.raises(DataError, match="checksum mismatch.*corrupt"):
        fetch.locate(spec, tmp_path / "root", None, download=False)
    assert bad.read_bytes() == b"corrupt"
    monkeypatch.delenv(fetch.MIRROR_ENV)
    with pytest.raises(DataError, match="not found .*searched"):
        fetch.locate(spec, tmp_path / "empty", None, download=False)


def test_download_verifies_and_leaves_nothing_half_written(tmp_path):
    src = tmp_path / "served.bin"
    src.write_bytes(b"payload")
    good = registry.FileSpec("f.bin", "ds", (src.as_uri(),), hashlib.md5(b"payload").hexdigest())
    assert fetch.locate(good, tmp_path / "root", [], download=True, quiet=True).read_bytes() == b"payload"
    wrong = dataclasses.replace(good, name="g.bin", md5="0" * 32)
    with pytest.raises(DataError, match="failed its checksum"):
        fetch.locate(wrong, tmp_path / "root2", [], download=True, quiet=True)
    assert list((tmp_path / "root2" / "ds").iterdir()) == []


def test_declared_datasets_fail_clearly():
    with pytest.raises(DataError, match="celeba: declared"):
        fetch.fetch_dataset("celeba")
    with pytest.raises(registry.UnknownDatasetError, match="known datasets"):
        registry.get("imagenet")
    assert registry.canonical_name("FMNIST") == "fashion"
