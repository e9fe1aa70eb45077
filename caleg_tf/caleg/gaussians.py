"""Class-aware Gaussians and the per-batch generation counts, in numpy (the original's ``set_class_ratios``,
``biased_sample_labels`` and ``get_z_dist``: ``caleg.py`` L426-433, L492-503, L390-404 of
anonymous184/CaLeG@096caad).

The fit is done once per refit (every 5 epochs), so numpy is the right place for it; the per-step sampling
happens in the graph from the factors computed here (``graph.py``), not with one
``np.random.multivariate_normal`` call per generated code as in the original.
"""
from __future__ import annotations

import math

import numpy as np


def class_weights(train_counts) -> np.ndarray:
    """w_c = (n_max - n_c) / sum_k (n_max - n_k); the majority class gets 0.

    A balanced set has no shortfall anywhere (0 / 0 in the original); there the generated codes are split
    evenly over the classes instead (only reachable with ``--imbalance 0``).
    """
    counts = np.asarray(train_counts, dtype=np.float64)
    deficit = counts.max() - counts
    if deficit.sum() == 0:
        return np.full(len(counts), 1.0 / len(counts))
    return deficit / deficit.sum()


def generation_counts(batch_size: int, aug_rate: float, weights) -> np.ndarray:
    """Codes per class for one batch: n_gen = ceil(b r), class c gets round(w_c n_gen) (half to even)."""
    n_gen = math.ceil(batch_size * aug_rate)
    return np.round(np.asarray(weights) * n_gen).astype(np.int64)


def generation_labels(counts) -> np.ndarray:
    """Labels in contiguous class blocks, class order (not shuffled)."""
    return np.repeat(np.arange(len(counts)), counts).astype(np.int32)


def fit(codes: np.ndarray, labels: np.ndarray, num_classes: int, previous=None, min_count: int = 2):
    """Per-class mean and unbiased full covariance (``np.cov``) of the pooled codes.

    Returns (means (K, d), covariances (K, d, d), counts (K,)). A class with fewer than ``min_count`` codes
    keeps its previous fit (``previous`` = (means, covs)), or N(0, I) if there is none; the original never
    meets this case (every class appears in every full epoch).
    """
    codes = np.asarray(codes, dtype=np.float64)
    labels = np.asarray(labels)
    d = codes.shape[1]
    means = np.zeros((num_classes, d))
    covs = np.tile(np.eye(d), (num_classes, 1, 1))
    counts = np.zeros(num_classes, dtype=np.int64)
    for c in range(num_classes):
        pool = codes[labels == c]
        counts[c] = len(pool)
        if len(pool) >= min_count:
            means[c] = pool.mean(axis=0)
            covs[c] = np.cov(pool, rowvar=False)
        elif previous is not None:
            means[c], covs[c] = previous[0][c], previous[1][c]
    return means, covs, counts


def sampling_factor(cov: np.ndarray, ridge: float = 0.0) -> np.ndarray:
    """F with z = mu + eps @ F ~ N(mu, cov) for eps ~ N(0, I): numpy's ``multivariate_normal`` construction
    (SVD, F = sqrt(s)[:, None] * v), which also accepts the singular covariances of the first refit
    (the original samples them as they are, ``caleg.py`` L220). ``ridge`` (fix ``cov_ridge``) adds ridge * I
    first."""
    cov = np.asarray(cov, dtype=np.float64)
    if ridge:
        cov = cov + ridge * np.eye(cov.shape[-1])
    _, s, v = np.linalg.svd(cov)
    return np.sqrt(np.maximum(s, 0.0))[..., :, None] * v
