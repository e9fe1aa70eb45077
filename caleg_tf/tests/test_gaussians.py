"""Class Gaussians and generation counts (the original's caleg.py L390-404, L426-433, L492-503) against
hand-derived values and numpy."""
import numpy as np
import pytest

from caleg import gaussians

MNIST_COUNTS = [4000, 2000, 1000, 750, 500, 350, 200, 100, 60, 40]
CIFAR_COUNTS = [4500, 2000, 1000, 800, 600, 500, 400, 250, 150, 80]


def test_class_weights_are_shortfalls_over_their_sum():
    w = gaussians.class_weights(MNIST_COUNTS)
    # deficits 0, 2000, 3000, 3250, 3500, 3650, 3800, 3900, 3940, 3960; sum 31000
    assert w[0] == 0.0
    assert w[1] == pytest.approx(2000 / 31000) and w[9] == pytest.approx(3960 / 31000)
    assert w.sum() == pytest.approx(1.0)
    assert np.allclose(gaussians.class_weights([5, 5, 5]), 1 / 3)  # balanced set: even split


@pytest.mark.parametrize("rate, expected", [
    # r = 1: 100 codes; 100 * d_c / 31000 = 6.45, 9.68, 10.48, 11.29, 11.77, 12.26, 12.58, 12.71, 12.77
    (1.0, [0, 6, 10, 10, 11, 12, 12, 13, 13, 13]),
    # r = 0.5: 50 codes; 3.23, 4.84, 5.24, 5.65, 5.89, 6.13, 6.29, 6.35, 6.39 -> total 49 (rounding loses one)
    (0.5, [0, 3, 5, 5, 6, 6, 6, 6, 6, 6]),
])
def test_generation_counts_mnist(rate, expected):
    counts = gaussians.generation_counts(100, rate, gaussians.class_weights(MNIST_COUNTS))
    assert counts.tolist() == expected
    labels = gaussians.generation_labels(counts)
    assert labels.tolist() == sum(([c] * n for c, n in enumerate(expected)), [])  # contiguous class blocks


def test_generation_counts_per_epoch_and_edge_cases():
    w = gaussians.class_weights(MNIST_COUNTS)
    assert (90 * gaussians.generation_counts(100, 1.0, w)).tolist() == [0, 540, 900, 900, 990, 1080, 1080, 1170,
                                                                         1170, 1170]
    assert gaussians.generation_counts(100, 2.0, w).sum() == 201  # per-class rounding adds one
    wc = gaussians.class_weights(CIFAR_COUNTS)
    assert gaussians.generation_counts(50, 1.0, wc).tolist() == [0, 4, 5, 5, 6, 6, 6, 6, 6, 6]
    assert gaussians.generation_counts(30, 1.0, wc).tolist() == [0, 2, 3, 3, 3, 3, 4, 4, 4, 4]
    per_epoch = 205 * gaussians.generation_counts(50, 1.0, wc) + gaussians.generation_counts(30, 1.0, wc)
    assert per_epoch.tolist() == [0, 822, 1028, 1028, 1233, 1233, 1234, 1234, 1234, 1234]


def test_fit_matches_numpy_mean_and_unbiased_covariance():
    rng = np.random.RandomState(0)
    labels = np.repeat(np.arange(3), [50, 20, 7])
    codes = rng.randn(len(labels), 5) * (1 + labels[:, None]) + labels[:, None]
    means, covs, counts = gaussians.fit(codes, labels, 3)
    assert counts.tolist() == [50, 20, 7]
    for c in range(3):
        pool = codes[labels == c]
        np.testing.assert_allclose(means[c], pool.mean(0), rtol=0, atol=1e-12)
        np.testing.assert_allclose(covs[c], np.cov(pool.T), rtol=0, atol=1e-12)
        manual = (pool - pool.mean(0)).T @ (pool - pool.mean(0)) / (len(pool) - 1)
        np.testing.assert_allclose(covs[c], manual, atol=1e-12)


def test_fit_keeps_previous_for_an_empty_class():
    codes, labels = np.ones((4, 2)), np.array([0, 0, 0, 0])
    prev = (np.full((2, 2), 7.0), np.tile(2 * np.eye(2), (2, 1, 1)))
    means, covs, counts = gaussians.fit(codes + np.arange(4)[:, None], labels, 2, previous=prev)
    assert counts.tolist() == [4, 0]
    assert means[1].tolist() == [7.0, 7.0] and np.array_equal(covs[1], 2 * np.eye(2))


def test_sampling_factor_reproduces_singular_covariances():
    rng = np.random.RandomState(1)
    pool = rng.randn(40, 64)  # 40 codes in 64 dimensions: rank-39 covariance (MNIST class 9, first refit)
    cov = np.cov(pool.T)
    assert np.linalg.matrix_rank(cov) == 39
    f = gaussians.sampling_factor(cov)
    np.testing.assert_allclose(f.T @ f, cov, atol=1e-10)
    fr = gaussians.sampling_factor(cov, ridge=1e-3)
    np.testing.assert_allclose(fr.T @ fr, cov + 1e-3 * np.eye(64), atol=1e-10)
    batched = gaussians.sampling_factor(np.stack([cov, np.eye(64)]))
    np.testing.assert_allclose(batched[1].T @ batched[1], np.eye(64), atol=1e-12)
