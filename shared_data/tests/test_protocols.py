import numpy as np
import pytest

from shared_data import protocols, registry


def _labels(n_per_class, num_classes=10, seed=0):
    y = np.repeat(np.arange(num_classes), n_per_class)
    return np.random.RandomState(seed).permutation(y)


def test_long_tailed_counts_match_the_published_table():
    assert protocols.long_tailed_counts(5000, 10, 100, "exp") == [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]
    assert protocols.long_tailed_counts(5000, 10, 50, "exp") == [5000, 3237, 2096, 1357, 878, 568, 368, 238, 154, 100]
    assert protocols.long_tailed_counts(5000, 10, 10, "exp") == [5000, 3871, 2997, 2320, 1796, 1391, 1077, 834, 645, 500]
    assert protocols.long_tailed_counts(5000, 10, 100, "step") == [5000] * 5 + [50] * 5


def test_gamo_draw_equals_the_original_global_rng_procedure():
    y_train, y_test = _labels(4200), _labels(900, seed=1)
    counts = list(registry.GAMO_PROFILE)
    train, test = protocols.gamo_indices(y_train, y_test, counts, seed=7)
    # The original script: one global legacy RNG, train draws for classes 0..9, then test draws.
    np.random.seed(7)
    ref_train = [np.where(y_train == c)[0][np.random.randint(0, 4000, n)] for c, n in enumerate(counts)]
    ref_test = [np.where(y_test == c)[0][np.random.randint(0, 800, 100)] for c in range(10)]
    np.testing.assert_array_equal(train, np.concatenate(ref_train))
    np.testing.assert_array_equal(test, np.concatenate(ref_test))
    assert np.bincount(y_train[train]).tolist() == counts
    positions = [np.flatnonzero(y_train == c) for c in range(10)]
    assert all(np.isin(train[y_train[train] == c], positions[c][:4000]).all() for c in range(10))


def test_dgc_draw_equals_shuffle_x_then_y_with_reseeding():
    y = _labels(300)
    x = np.arange(len(y))  # stands for the images: x[i] = original index
    counts = [50, 40, 30, 20, 10, 5, 4, 3, 2, 1]
    got = protocols.dgc_indices(y, counts, seed=3)
    # The original: seed, shuffle x; seed again, shuffle y; first n_c per class; seed, shuffle both again.
    xs, ys = x.copy(), y.copy()
    np.random.seed(3); np.random.shuffle(xs)
    np.random.seed(3); np.random.shuffle(ys)
    bx = np.concatenate([xs[ys == c][:n] for c, n in enumerate(counts)])
    by = np.concatenate([ys[ys == c][:n] for c, n in enumerate(counts)])
    np.random.seed(3); np.random.shuffle(bx)
    np.random.seed(3); np.random.shuffle(by)
    np.testing.assert_array_equal(got, bx)
    np.testing.assert_array_equal(y[got], by)


def test_impossible_counts_and_unknown_protocol_are_refused():
    y = _labels(100)
    with pytest.raises(protocols.SplitError, match="class 0 asks for 101"):
        protocols.dgc_indices(y, [101] + [1] * 9, seed=0)
    with pytest.raises(protocols.SplitError, match="fewer than the protocol's pool"):
        protocols.gamo_indices(y, y, [10] * 10, seed=0)
    with pytest.raises(protocols.SplitError, match="unknown protocol"):
        protocols.resolve_counts(registry.MNIST, "smote")
    with pytest.raises(protocols.SplitError, match="10 classes"):
        protocols.resolve_counts(registry.MNIST, "dgc", counts=[1, 2])


def test_split_ids_are_stable_and_readable():
    assert protocols.split_id("fashion", "gamo", 0) == "fashion-gamo-s0"
    assert protocols.split_id("cifar10", "exp", 1, ir=50) == "cifar10-exp-ir50-s1"
    assert protocols.split_id("mnist", "dgc", 2, imbalance=0) == "mnist-dgc-balanced-s2"
    assert protocols.split_id("mnist", "dgc", 2, counts=[1] * 10).startswith("mnist-dgc-counts")


def test_torch_randperm_emulation_exact_values():
    # torch.manual_seed(s); torch.randperm(n) on the CPU, as printed by torch 2.13 (values also checked live
    # against torch in the torch environment: test_imsic_torch.py)
    assert protocols.torch_cpu_randperm(10, 0).tolist() == [4, 1, 7, 5, 3, 9, 0, 8, 6, 2]
    assert protocols.torch_cpu_randperm(5, 1).tolist() == [0, 4, 2, 3, 1]
    assert protocols.torch_cpu_randperm(12, 42).tolist() == [6, 8, 1, 7, 0, 2, 10, 11, 4, 3, 5, 9]
    assert protocols.torch_cpu_randperm(1, 0).tolist() == [0] and protocols.torch_cpu_randperm(0, 0).tolist() == []
    with pytest.raises(protocols.SplitError, match="split seed"):
        protocols.torch_cpu_randperm(10, -1)


def test_imsic_draw_reseeds_before_every_class():
    y = _labels([500, 400, 300, 200, 100, 90, 80, 70, 60, 50])
    counts = [50, 40, 30, 20, 10, 5, 4, 3, 2, 1]
    got = protocols.imsic_indices(y, counts, seed=3)
    # per class in label order: positions in file order, the same seeded permutation rule, first n_c
    ref = [np.flatnonzero(y == c)[protocols.torch_cpu_randperm(int(np.sum(y == c)), 3)[:n]]
           for c, n in enumerate(counts)]
    np.testing.assert_array_equal(got, np.concatenate(ref))
    assert np.bincount(y[got]).tolist() == counts and len(np.unique(got)) == sum(counts)
    # class 1 alone: re-seeding means its draw does not depend on class 0's size
    y2 = y.copy()
    y2[np.flatnonzero(y == 0)[:100]] = 11  # shrink class 0; class 1's positions unchanged
    got2 = protocols.imsic_indices(np.where(y2 == 11, 99, y2), counts, seed=3)
    np.testing.assert_array_equal(got2[y[got2] == 1], got[y[got] == 1])


def test_imsic_protocol_only_for_its_profile():
    assert protocols.resolve_counts(registry.MNIST, "imsic") == list(registry.GAMO_PROFILE)
    with pytest.raises(protocols.SplitError, match="4000...40 profile"):
        protocols.resolve_counts(registry.get("svhn"), "imsic")
