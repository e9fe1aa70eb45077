"""The ``dfg`` protocol: seeded minority classes, first images in file order, the full test set."""
import numpy as np
import pytest

from shared_data import protocols, registry, splits

# Content hash of the Fashion-MNIST IR 40 split with split seed 0: changes only if the protocol or the data change.
FASHION_DFG_IR40_S0_HASH = "214bd6e6dce7e97626e85c1c72d7576e1cba4145ba7b4efbe14334a6354dbbe0"


def test_minority_classes_are_the_first_m_of_a_seeded_permutation():
    assert protocols.dfg_minority_classes(10, 8, 0) == [1, 2, 3, 4, 6, 7, 8, 9]
    assert protocols.dfg_minority_classes(10, 8, 1) == [0, 1, 2, 3, 4, 6, 7, 9]
    assert protocols.dfg_minority_classes(10, 8, 2) == [0, 1, 2, 3, 4, 5, 6, 7]
    for seed in range(5):
        ref = sorted(np.random.RandomState(seed).permutation(10)[:3].tolist())
        assert protocols.dfg_minority_classes(10, 3, seed) == ref
    assert protocols.dfg_minority_classes(10, 0, 0) == []


def test_counts_keep_n_maj_and_int_n_maj_over_ir_capped_by_the_class_size():
    y = np.repeat(np.arange(4), [50, 30, 50, 7])  # class 3 is smaller than its quota
    counts, chosen, n_maj = protocols.dfg_counts(y, 4, 40, ir=4, minority=2, seed=0)
    assert chosen == sorted(np.random.RandomState(0).permutation(4)[:2].tolist()) == [2, 3]
    assert n_maj == 40 and counts == [40, 30, 10, 7]  # int(40 / 4) = 10; class 1 has only 30; class 3 only 7
    # without a hard-coded majority size the largest class sets it
    counts, _, n_maj = protocols.dfg_counts(y, 4, None, ir=5, minority=2, seed=0)
    assert n_maj == 50 and counts == [50, 30, 10, 7]


def test_kept_images_are_the_first_in_file_order_grouped_by_class():
    y = np.array([1, 0, 1, 0, 0, 1, 2, 2, 0, 1])
    idx = protocols.dfg_indices(y, [2, 3, 1])
    assert idx.tolist() == [1, 3, 0, 2, 5, 6]


def test_bad_parameters_are_refused():
    y = np.repeat(np.arange(10), 100)
    with pytest.raises(protocols.SplitError, match="leaves the minority classes empty"):
        protocols.dfg_counts(y, 10, 100, ir=101, minority=8, seed=0)
    with pytest.raises(protocols.SplitError, match="leaves the minority classes empty"):
        protocols.resolve_counts(registry.FASHION, "dfg", ir=6001)
    with pytest.raises(protocols.SplitError, match="between 0 and 10"):
        protocols.dfg_params(registry.FASHION, 40, 11)
    with pytest.raises(protocols.SplitError, match=">= 1"):
        protocols.dfg_params(registry.FASHION, 0.5, 8)
    assert protocols.dfg_params(registry.FASHION) == (40.0, 8)
    assert protocols.dfg_params(registry.SVHN) == (10.0, 8)


def test_split_ids_name_ir_and_minority_count():
    # the paper tables' protocol key is dfg-ir<IR>; a non-default minority count is named
    assert protocols.split_id("fashion", "dfg", 0, ir=40, minority=8) == "fashion-dfg-ir40-s0"
    assert protocols.split_id("svhn", "dfg", 2, ir=10, minority=8) == "svhn-dfg-ir10-s2"
    assert protocols.split_id("fashion", "dfg", 1, ir=40, minority=5) == "fashion-dfg-ir40-m5-s1"


def test_fashion_ir40_split_matches_the_original_counts(split_root):
    s = splits.get_split("fashion", "dfg", 0, ir=40, data_root=split_root)
    assert s.split_id == "fashion-dfg-ir40-s0"
    assert s.manifest["dfg"] == {"ir": 40.0, "minority": 8, "n_maj": 6000, "minority_classes": [1, 2, 3, 4, 6, 7, 8, 9]}
    assert s.train_counts == [6000, 150, 150, 150, 150, 6000, 150, 150, 150, 150]
    assert len(s.y_train) == 2 * 6000 + 8 * 150 == 13200
    assert s.idx_test.tolist() == list(range(10000)) and s.manifest["test_counts"] == [1000] * 10
    y_all = np.concatenate([s.y_train])  # kept images are each class's first positions in the official file
    from shared_data.readers import load_dataset
    full = load_dataset("fashion", split_root, download=False)
    for c, n in enumerate(s.train_counts):
        np.testing.assert_array_equal(s.idx_train[y_all == c], np.flatnonzero(full.y_train == c)[:n])
    assert s.split_hash == FASHION_DFG_IR40_S0_HASH
    # reopening reads the same folder; the minority draw is part of the identity
    again = splits.get_split("fashion", "dfg", 0, data_root=split_root)
    assert again.path == s.path and again.split_hash == s.split_hash
