import hashlib
import json

import numpy as np
import pytest

from shared_data import protocols, splits
from shared_data.fetch import DataError

# The content hash of one reference split: the same bytes must come out of every environment
# (the Makefile runs this suite in each of them). It changes only if the protocol or the data change.
FASHION_GAMO_S0_HASH = "d4170b35c0a895177512ead42b062a7a521415136c21b0628042a7738df05874"
# IMSIC's released MNIST CNN subset (split seed 0 = the original's torch.manual_seed(0) before every class).
MNIST_IMSIC_S0_HASH = "bf393b438caaa359a4fd843a3fb43470ecc7865502f9040b20be01de9f5c963f"


def test_fashion_gamo_split_matches_the_issue(split_root):
    s = splits.get_split("fashion", "gamo", 0, data_root=split_root)
    assert s.train_counts == [4000, 2000, 1000, 750, 500, 350, 200, 100, 60, 40]
    assert s.manifest["test_counts"] == [100] * 10
    assert s.x_train.shape == (9000, 28, 28, 1) and s.x_train.dtype == np.uint8
    train_csv = np.loadtxt(s.path / "train.csv", delimiter=",", dtype=np.int64)
    test_csv = np.loadtxt(s.path / "test.csv", delimiter=",", dtype=np.int64)
    assert train_csv.shape == (9000, 785) and test_csv.shape == (1000, 785)
    np.testing.assert_array_equal(train_csv[:, -1], s.y_train)  # label last
    np.testing.assert_array_equal(train_csv[:, :-1].reshape(-1, 28, 28, 1), s.x_train)
    assert s.split_hash == FASHION_GAMO_S0_HASH
    assert s.idx_train.max() < 60000 and s.manifest["unique_train_images"] < 9000  # drawn with replacement


def test_mnist_imsic_split_matches_the_golden_hash(split_root):
    s = splits.get_split("mnist", "imsic", 0, data_root=split_root)
    assert s.split_id == "mnist-imsic-s0"
    assert s.train_counts == [4000, 2000, 1000, 750, 500, 350, 200, 100, 60, 40]
    assert s.manifest["unique_train_images"] == 9000 and len(s.y_test) == 10000
    assert s.idx_test.tolist() == list(range(10000))
    # classes in label order, each in its randperm order (not file order)
    assert (np.diff(s.y_train) >= 0).all() and s.idx_train[:5].tolist() == [11911, 14282, 7978, 50311, 27148]
    assert s.split_hash == MNIST_IMSIC_S0_HASH


def test_dgc_split_on_mnist_uses_the_full_test_set(split_root):
    s = splits.get_split("mnist", "dgc", 1, data_root=split_root)
    assert s.train_counts == [4000, 2000, 1000, 750, 500, 350, 200, 100, 60, 40]
    assert len(s.y_test) == 10000 and s.idx_test.tolist() == list(range(10000))
    assert s.manifest["unique_train_images"] == 9000
    assert set(s.manifest["files"]) == {"train.npz", "test.npz", "train.csv", "test.csv"}


def test_same_inputs_give_the_same_bytes(split_root, tmp_path):
    a = splits.build_split("mnist", "dgc", 5, data_root=split_root)
    b = splits.build_split("mnist", "dgc", 5, data_root=split_root)
    splits.write_split(a, tmp_path / "a")
    splits.write_split(b, tmp_path / "b")
    for name in ("train.npz", "test.npz", "train.csv", "test.csv", "manifest.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["files"]["train.npz"] == hashlib.sha256((tmp_path / "a" / "train.npz").read_bytes()).hexdigest()
    # rewriting the same split is a no-op; another split in the same folder is refused
    splits.write_split(a, tmp_path / "a")
    c = splits.build_split("mnist", "dgc", 6, data_root=split_root)
    with pytest.raises(DataError, match="different split"):
        splits.write_split(c, tmp_path / "a")


def test_corrupt_split_is_detected(split_root, tmp_path):
    s = splits.build_split("mnist", "dgc", 2, data_root=split_root)
    out = splits.write_split(s, tmp_path / "s")
    data = np.load(out / "train.npz")
    x = data["x"].copy()
    x[0, 0, 0, 0] ^= 1
    np.savez(out / "train.npz", x=x, y=data["y"], index=data["index"])
    with pytest.raises(DataError, match="does not match its manifest"):
        splits.load_split(out)
    (out / "test.npz").write_bytes(b"garbage")
    with pytest.raises(DataError, match="unreadable split folder"):
        splits.load_split(out)


def test_balanced_and_long_tailed_variants(split_root):
    s = splits.get_split("mnist", "dgc", 0, imbalance=0, data_root=split_root)
    assert len(s.y_train) == 60000 and s.split_id == "mnist-dgc-balanced-s0"
    # n_max is MNIST's smallest full class (digit 5: 5421 images), so the exp profile can be drawn
    x = splits.get_split("mnist", "exp", 0, ir=10, data_root=split_root)
    assert x.train_counts[0] == 5421 and x.train_counts[-1] == 542 and x.split_id == "mnist-exp-ir10-s0"
    with pytest.raises(protocols.SplitError, match="--ir 10000 leaves class 5 of mnist empty.*largest --ir .* 5421"):
        splits.get_split("mnist", "step", 0, ir=10000, data_root=split_root)
    counts = [3000, 1000, 500, 300, 200, 100, 50, 30, 20, 10]
    e = splits.get_split("mnist", "exp", 0, counts=counts, data_root=split_root)
    assert e.train_counts == counts and e.split_id.startswith("mnist-exp-counts")


def test_a_stale_split_folder_is_not_reused(split_root, tmp_path):
    s = splits.get_split("mnist", "dgc", 4, data_root=tmp_path, mirrors=None)
    manifest = json.loads((s.path / "manifest.json").read_text())
    manifest["train_counts"] = [1] * 10  # as if an older protocol had written other counts
    (s.path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DataError, match="train labels count .* the manifest says"):
        splits.get_split("mnist", "dgc", 4, data_root=tmp_path)


def test_a_test_subset_is_cut_by_the_contract_and_named_in_the_identity(split_root):
    full = splits.get_split("mnist", "dgc", 1, data_root=split_root)
    s = splits.get_split("mnist", "dgc", 1, data_root=split_root, test_per_class=3)
    assert s.split_id == full.split_id + "-test3" and s.eval_subset == 3 and full.eval_subset == "full"
    assert s.manifest["test_counts"] == [3] * 10 and len(s.y_test) == 30
    # the first 3 of each class in the test order, kept in that order
    expect = np.sort(np.concatenate([np.flatnonzero(full.y_test == c)[:3] for c in range(10)]))
    np.testing.assert_array_equal(s.idx_test, full.idx_test[expect])
    np.testing.assert_array_equal(s.x_test, full.x_test[expect])
    assert s.split_hash != full.split_hash and s.manifest["full_split_hash"] == full.split_hash
    np.testing.assert_array_equal(s.x_train, full.x_train)
    with pytest.raises(DataError, match="test_per_class"):
        splits.get_split("mnist", "dgc", 1, data_root=split_root, test_per_class=0)
