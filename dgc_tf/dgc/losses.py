"""The objective's terms (the original's `dgc.py` L57-62, L144-194) and the encoder pretraining loss
(`dgc.py` L117-129)."""
from __future__ import annotations

from .tfcompat import tf

# Scales of the inverse multiquadratic kernel, C = 2 * zdim * scale (WAE's IMQ MMD with sigma2_p = 1).
IMQ_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


def _sq_distances(a, b):
    """Pairwise squared Euclidean distances over the last axis; leading axes are batch axes."""
    na = tf.reduce_sum(tf.square(a), axis=-1, keepdims=True)  # [..., n, 1]
    nb = tf.reduce_sum(tf.square(b), axis=-1, keepdims=True)  # [..., m, 1]
    return na + tf.linalg.matrix_transpose(nb) - 2.0 * tf.matmul(a, b, transpose_b=True)


def mmd_imq(qz, pz, zdim: int, scales=IMQ_SCALES):
    """Unbiased-style MMD between codes ``qz`` and prior samples ``pz`` with the IMQ kernel k = C / (C + d^2).

    Per scale: [sum_{i != j} k(q_i, q_j) + sum_{i != j} k(p_i, p_j)] / (n^2 - n) - (2 / n^2) sum_{i, j} k(q_i, p_j);
    the result is the sum over scales. ``qz`` and ``pz`` have shape [..., n, zdim] (same n); leading axes give
    one MMD each (the prediction graph computes one per test batch and class).
    """
    n = tf.cast(tf.shape(qz)[-2], tf.float32)
    d_qq = _sq_distances(qz, qz)
    d_pp = _sq_distances(pz, pz)
    d_qp = _sq_distances(qz, pz)
    off_diag = 1.0 - tf.eye(tf.shape(qz)[-2])
    stat = 0.0
    for scale in scales:
        c = 2.0 * zdim * scale
        same = (c / (c + d_qq) + c / (c + d_pp)) * off_diag
        res1 = tf.reduce_sum(same, axis=[-2, -1]) / (n * n - n)
        res2 = tf.reduce_sum(c / (c + d_qp), axis=[-2, -1]) * 2.0 / (n * n)
        stat = stat + res1 - res2
    return stat


def reconstruction_l2sq(x, x_hat):
    """``cost = 'l2sq'``: 0.5 * batch mean of the per-image sum of squared pixel errors."""
    per_image = tf.reduce_sum(tf.square(x - x_hat), axis=[1, 2, 3])
    return 0.5 * tf.reduce_mean(per_image)


def cross_entropy(labels, logits, reduction: str = "sum"):
    """Softmax cross-entropy; ``sum`` over the batch is the released code (its ``# FIXME``), ``mean`` the fix."""
    per_sample = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    if reduction == "sum":
        return tf.reduce_sum(per_sample)
    if reduction == "mean":
        return tf.reduce_mean(per_sample)
    raise ValueError(f"ce_reduction must be 'sum' or 'mean', got {reduction!r}")


def moment_matching(qz, pz):
    """Encoder pretraining loss: mean squared difference of the means plus that of the covariance matrices.

    Covariances are divided by (sample size - 1).
    """
    n = tf.cast(tf.shape(qz)[0], tf.float32)
    mean_q = tf.reduce_mean(qz, axis=0, keepdims=True)
    mean_p = tf.reduce_mean(pz, axis=0, keepdims=True)
    mean_loss = tf.reduce_mean(tf.square(mean_p - mean_q))
    cov_q = tf.matmul(qz - mean_q, qz - mean_q, transpose_a=True) / (n - 1.0)
    cov_p = tf.matmul(pz - mean_p, pz - mean_p, transpose_a=True) / (n - 1.0)
    cov_loss = tf.reduce_mean(tf.square(cov_p - cov_q))
    return mean_loss + cov_loss
