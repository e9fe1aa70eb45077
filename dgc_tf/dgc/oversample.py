"""Latent oversampling (the original's `augment_batch`, `dgc.py` L266-297): which rows of a mini-batch's
(mu, log-variance) are copied, and how often.

After each main step the posterior parameters of the batch are copied per class and the classifier alone takes
an Adam step on the enlarged latent batch (each copy gets a fresh epsilon in the graph).

Copies per sample of class c (``rule='code'``, the released code): 1 + r * (N_max - N_c) / N_c, with N_c the
*full training* count of class c and r = ``aug_rate``. The paper's rule (``rule='paper'``,
``aug_count_rule=paper``): s_c = max{1, r * N_max / N_c}.

Implementation of the code: each sample of class c in the batch is repeated ceil(copies_c) times consecutively,
then the class block is cut to floor(n_c,batch * copies_c) rows, so the last samples of a block lose copies;
blocks are concatenated in class order and classes absent from the batch are skipped.
"""
from __future__ import annotations

import math

import numpy as np


def copies_per_sample(train_counts, aug_rate: float, rule: str = "code") -> np.ndarray:
    """Copies (original included) per sample of each class, as float64, label order."""
    counts = np.asarray(train_counts, dtype=np.float64)
    if counts.ndim != 1 or counts.size == 0 or counts.min() <= 0:
        raise ValueError(f"train_counts must be positive per-class counts, got {train_counts!r}")
    n_max = counts.max()
    if rule == "code":
        return 1.0 + aug_rate * (n_max - counts) / counts
    if rule == "paper":
        return np.maximum(1.0, aug_rate * n_max / counts)
    raise ValueError(f"aug_count_rule must be 'code' or 'paper', got {rule!r}")


def augment_indices(y_batch, copies: np.ndarray) -> np.ndarray:
    """Row indices into the batch that make the enlarged latent batch (class blocks in class order)."""
    y_batch = np.asarray(y_batch)
    out = []
    for c, k in enumerate(copies):
        rows = np.flatnonzero(y_batch == c)
        if rows.size == 0:
            continue
        repeated = np.repeat(rows, int(math.ceil(k)))
        out.append(repeated[: int(math.floor(rows.size * k))])
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)
