"""Small references shared by method suites whose originals share the code: the WAE MMD penalty with the
inverse-multiquadratics kernel (DGC and CaLeG both build on it), the class subset their learning tests train on,
and one update of ``torch.optim.Adam`` (IMSIC and DFG). NumPy only; the MMD is written with ``npgrad`` ops so that
the reference steps can differentiate it."""
from __future__ import annotations

import numpy as np

from . import npgrad as ng


def mmd_imq(q, pz, zdim: int, scales):
    """WAE's MMD statistic of codes ``q`` against prior draws ``pz`` (both [n, zdim] npgrad values): for each
    scale s, C = 2 * zdim * s; the within-sample kernel sums leave the diagonal out (divided by n^2 - n), the
    cross term is counted twice over n^2."""
    n = q.shape[0]
    off = 1.0 - np.eye(n)

    def sqdist(a, b):
        return ng.sum_(ng.square(ng.reshape(a, (n, 1, zdim)) - ng.reshape(b, (1, n, zdim))), axis=2)

    d_qq, d_pp, d_qp = sqdist(q, q), sqdist(pz, pz), sqdist(q, pz)
    stat = ng.const(0.0)
    for s in scales:
        c = 2.0 * zdim * s
        stat = stat + ng.sum_((c / (d_qq + c) + c / (d_pp + c)) * off) / (n * n - n) \
            - ng.sum_(c / (d_qp + c)) * (2.0 / (n * n))
    return stat


def class_subset(dataset: str, data_root, classes, counts, test_per_class: int, seed: int = 0):
    """A small imbalanced training set of ``counts[i]`` random images of ``classes[i]`` (one shuffle over all
    of them, ``RandomState(seed)``), and the first ``test_per_class`` test images of each class; uint8 images and
    int labels as the dataset reader gives them: (x_train, y_train, x_test, y_test)."""
    from shared_data import readers

    d = readers.load_dataset(dataset, data_root=data_root, quiet=True)
    rng = np.random.RandomState(seed)
    tr = np.concatenate([rng.permutation(np.flatnonzero(d.y_train == c))[:n] for c, n in zip(classes, counts)])
    tr = rng.permutation(tr)
    te = np.concatenate([np.flatnonzero(d.y_test == c)[:test_per_class] for c in classes])
    return d.x_train[tr], d.y_train[tr], d.x_test[te], d.y_test[te]


def torch_adam(p, g, state, lr: float, betas, eps: float):
    """One ``torch.optim.Adam`` update of parameter ``p`` (array) with gradient ``g``: bias-corrected moments, eps
    added to the corrected root. ``state`` = (m, v, t) before the step; returns (new p, new state)."""
    b1, b2 = betas
    m, v, t = state
    t += 1
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    return p - lr / (1 - b1 ** t) * m / (np.sqrt(v) / np.sqrt(1 - b2 ** t) + eps), (m, v, t)
