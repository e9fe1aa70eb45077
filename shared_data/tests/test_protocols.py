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
