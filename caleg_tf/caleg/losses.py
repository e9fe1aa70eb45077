"""Every loss term of the original (``caleg.py`` L51-82, L113-197 of anonymous184/CaLeG@096caad), as graph
functions."""
from __future__ import annotations

from . import ops
from .tfcompat import tf

MMD_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


def reconstruction(x, x_rec, weight: float = 0.05):
    """``cost = 'l2sq'``: 0.05 x mean over the batch of the per-image sum of squared pixel errors."""
    return weight * tf.reduce_mean(tf.reduce_sum(tf.square(x - x_rec), axis=[1, 2, 3]))


def _sq_distances(a, b):
    na = tf.reduce_sum(tf.square(a), axis=1, keepdims=True)
    nb = tf.reduce_sum(tf.square(b), axis=1, keepdims=True)
    return na + tf.transpose(nb) - 2.0 * tf.matmul(a, b, transpose_b=True)


def mmd_penalty(qz, pz, zdim: int, sigma2_p: float = 1.0):
    """WAE-MMD with the inverse-multiquadratics kernel C / (C + ||a - b||^2), C = 2 zdim sigma2_p s, summed over
    the scales s of ``MMD_SCALES``; unbiased within-sample terms (diagonal removed), as in WAE's code."""
    n = tf.cast(tf.shape(qz)[0], tf.float32)
    d_qq, d_pp, d_qp = _sq_distances(qz, qz), _sq_distances(pz, pz), _sq_distances(qz, pz)
    off_diag = 1.0 - tf.eye(tf.shape(qz)[0])
    stat = 0.0
    for s in MMD_SCALES:
        c = 2.0 * zdim * sigma2_p * s
        within = tf.reduce_sum((c / (c + d_qq) + c / (c + d_pp)) * off_diag) / (n * n - n)
        between = tf.reduce_sum(c / (c + d_qp)) * 2.0 / (n * n)
        stat += within - between
    return stat


def moment_matching(qz, pz):
    """Encoder pretraining loss: mean squared difference of the means plus of the (n - 1) covariances."""
    n = tf.cast(tf.shape(qz)[0], tf.float32)
    mq, mp = tf.reduce_mean(qz, 0, keepdims=True), tf.reduce_mean(pz, 0, keepdims=True)
    cq = tf.matmul(qz - mq, qz - mq, transpose_a=True) / (n - 1.0)
    cp = tf.matmul(pz - mp, pz - mp, transpose_a=True) / (n - 1.0)
    return tf.reduce_mean(tf.square(mq - mp)) + tf.reduce_mean(tf.square(cq - cp))


def cross_entropy(labels, logits, reduction: str = "sum"):
    """Softmax cross-entropy of integer ``labels``, summed over the batch (``sum``) or averaged (``mean``)."""
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    if reduction == "sum":
        return tf.reduce_sum(ce)
    if reduction == "mean":
        return tf.reduce_mean(ce)
    raise ValueError(f"unknown reduction {reduction!r}")


def gpu_style_gather(params, indices):
    """``tf.gather`` as it behaves on GPU: rows for out-of-range indices are zeros (``caleg.py`` L163-166).

    On CPU ``tf.gather`` raises InvalidArgumentError for an index >= len(params); this reproduces the GPU
    result the original's r > 1 runs actually used.
    """
    n = tf.shape(params)[0]
    valid = tf.cast(indices < n, params.dtype)
    rows = tf.gather(params, tf.minimum(indices, n - 1))
    return rows * tf.reshape(valid, [-1] + [1] * (len(params.shape) - 1))


def pair_real(real, other, aug_rate: float, resample: bool = False):
    """Real rows paired with ``other`` for a gradient-penalty interpolation (``caleg.py`` L161-171).

    r = 1: the real batch as it is. r < 1: the real batch shuffled and truncated to len(other). r > 1: the real
    batch gathered with a random permutation of range(len(other)); for len(other) > len(real) the
    out-of-range rows are zeros (GPU semantics). ``resample`` (fix ``gp_real_resample``): len(other) real rows
    drawn with replacement instead.

    r = 1 with len(other) != len(real) (never with the original's batch sizes and class counts, but e.g. with
    the counts of the full training set) is a shape error in the original; here it pairs as r < 1 or r > 1 do.
    """
    n_real, n_other = tf.shape(real)[0], tf.shape(other)[0]
    if resample:
        return tf.gather(real, ops.random_uniform(tf.reshape(n_other, [1]), 0, n_real, dtype=tf.int32))

    def truncated():
        return tf.gather(real, ops.random_permutation(n_real)[:n_other])

    def gathered():
        return gpu_style_gather(real, ops.random_permutation(n_other))

    if aug_rate == 1:
        return tf.cond(tf.equal(n_other, n_real), lambda: tf.identity(real),
                       lambda: tf.cond(n_other < n_real, truncated, gathered))
    return truncated() if aug_rate < 1 else gathered()


def gradient_penalty(critic, real, other):
    """mean over samples of (||grad_u critic(u)||_2 - 1)^2, u = real + alpha (other - real), alpha ~ U(0, 1)."""
    alpha = ops.random_uniform(tf.stack([tf.shape(other)[0], 1, 1, 1]), 0.0, 1.0)
    u = real + alpha * (other - real)
    grad = tf.gradients(critic(u), [u])[0]
    slopes = tf.sqrt(tf.reduce_sum(tf.square(grad), axis=[1, 2, 3]))
    return tf.reduce_mean(tf.square(slopes - 1.0))
