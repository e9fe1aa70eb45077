"""Readers added for DFG's datasets, on small files written in the real formats."""
import dataclasses
import gzip
import hashlib
import io
import struct
import tarfile
import zipfile

import numpy as np
import pytest

from shared_data import readers, registry
from shared_data.fetch import DataError


def _idx(arr: np.ndarray) -> bytes:
    head = struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return head + arr.astype(np.uint8).tobytes()


def _emnist_zip(path, n_train=6, n_test=4, seed=0):
    rng = np.random.RandomState(seed)
    arrays = {"train-images-idx3": rng.randint(0, 256, (n_train, 28, 28)), "train-labels-idx1": np.arange(n_train) % 10,
              "test-images-idx3": rng.randint(0, 256, (n_test, 28, 28)), "test-labels-idx1": np.arange(n_test) % 10}
    with zipfile.ZipFile(path, "w") as zf:
        for key, arr in arrays.items():
            zf.writestr(f"gzip/emnist-digits-{key}-ubyte.gz", gzip.compress(_idx(arr)))
        zf.writestr("gzip/emnist-letters-train-labels-idx1-ubyte.gz", gzip.compress(_idx(np.ones(3))))
    return arrays


def test_emnist_digits_reader_transposes_to_mnist_orientation(tmp_path):
    arrays = _emnist_zip(tmp_path / "gzip.zip")
    x_train, y_train, x_test, y_test = readers.read_emnist_digits_zip(tmp_path / "gzip.zip")
    np.testing.assert_array_equal(x_train, np.swapaxes(arrays["train-images-idx3"], 1, 2))
    np.testing.assert_array_equal(y_test, arrays["test-labels-idx1"])
    assert x_test.shape == (4, 28, 28) and y_train.dtype == np.int64
    with zipfile.ZipFile(tmp_path / "bad.zip", "w") as zf:
        zf.writestr("gzip/other.gz", b"")
    with pytest.raises(DataError, match="lacks emnist-digits-train-images"):
        readers.read_emnist_digits_zip(tmp_path / "bad.zip")


def _stl_tar(path, n_train=3, n_test=2, seed=0):
    rng = np.random.RandomState(seed)
    x = {p: rng.randint(0, 256, (n, 96, 96, 3)).astype(np.uint8) for p, n in (("train", n_train), ("test", n_test))}
    y = {"train": np.array([1, 10, 5][:n_train], np.uint8), "test": np.array([2, 8][:n_test], np.uint8)}
    with tarfile.open(path, "w:gz") as tar:
        for p in ("train", "test"):
            # the official layout: per image, three 96x96 planes stored column by column
            members = {f"{p}_X.bin": x[p].transpose(0, 3, 2, 1).tobytes(), f"{p}_y.bin": y[p].tobytes()}
            for name, data in members.items():
                info = tarfile.TarInfo(f"stl10_binary/{name}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return x, y


def test_stl10_reader_gives_upright_nhwc_images_and_labels_from_0(tmp_path, monkeypatch):
    (tmp_path / "stl10").mkdir()
    archive = tmp_path / "stl10" / "stl10_binary.tar.gz"
    x, y = _stl_tar(archive)
    x_train, y_train, x_test, y_test = readers.read_stl10_archive(archive)
    np.testing.assert_array_equal(x_train, x["train"])
    np.testing.assert_array_equal(x_test, x["test"])
    assert y_train.tolist() == [0, 9, 4] and y_test.tolist() == [1, 7]
    # through the registry, with the small archive's own checksum
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    spec = dataclasses.replace(registry.STL10, n_train=3, n_test=2,
                               files={"archive": dataclasses.replace(registry.STL10.files["archive"], md5=md5,
                                                                     urls=())})
    monkeypatch.setitem(registry.DATASETS, "stl10", spec)
    ds = readers.load_dataset("stl10", data_root=tmp_path, download=False)
    assert ds.x_train.shape == (3, 96, 96, 3) and ds.y_test.tolist() == [1, 7]


def test_image_folder_reader_sorts_file_names_within_each_class(tmp_path):
    from PIL import Image

    rng = np.random.RandomState(0)
    written = {}
    for cls in ("airplane", "automobile"):
        (tmp_path / cls).mkdir()
        for name in ("n02_b.png", "cifar10-train-7.png", "n01_a.png"):
            img = rng.randint(0, 256, (32, 32, 3)).astype(np.uint8)
            Image.fromarray(img).save(tmp_path / cls / name)
            written[(cls, name)] = img
    x, y = readers.read_image_folder(tmp_path, ("airplane", "automobile"))
    assert y.tolist() == [0, 0, 0, 1, 1, 1]
    order = ["cifar10-train-7.png", "n01_a.png", "n02_b.png"]  # CIFAR-derived files sort first
    np.testing.assert_array_equal(x[:3], np.stack([written[("airplane", n)] for n in order]))
    with pytest.raises(DataError, match="no folder for class 'bird'"):
        readers.read_image_folder(tmp_path, ("airplane", "bird"))


def test_registry_declares_dfg_datasets():
    assert registry.get("emnist-digits").files["archive"].md5 == "58c8d27c78d21e728a6bc7b3cc06412e"
    assert registry.get("stl").files["archive"].md5 == "91f7769df0f17e558f3565bffb0c7dfb"
    assert registry.get("cinic").loadable is False and registry.get("cinic").n_train == 90000
