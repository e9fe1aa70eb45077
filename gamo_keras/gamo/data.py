"""GAMO's data handling: scaling, the Fashion transpose, relabelling, minority classes, the shuffle, the
fake-label draw and the per-iteration random numbers.

Everything here is numpy (no framework), so it is unit-tested with exact values. The original's helpers are
named in the docstrings (``relabel``, ``irFind``, ``randomLabelGen``, ``batchDivision`` of ``*_suppli.py``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from shared_data.errors import DataError


class GamoDataError(DataError, ValueError):
    """The split cannot be used by GAMO (no minority class, wrong shape, CSV and NPZ disagree...)."""


# -- reading the split ------------------------------------------------------------------------------------

def read_gamo_csv(path: str | Path, image_shape) -> tuple[np.ndarray, np.ndarray]:
    """Read a GAMO-layout CSV (784 pixel columns on 0-255, label LAST, no header): the file the original
    main scripts load. Returns uint8 NHWC images and int64 labels."""
    import pandas as pd

    table = pd.read_csv(path, header=None, dtype=np.int64, engine="c").to_numpy()
    h, w, c = image_shape
    if table.shape[1] != h * w * c + 1:
        raise GamoDataError(f"{path}: {table.shape[1]} columns, expected {h * w * c} pixels + 1 label")
    x = table[:, :-1].astype(np.uint8).reshape(-1, h, w, c)
    return x, table[:, -1].astype(np.int64)


def scale_images(x_uint8: np.ndarray) -> np.ndarray:
    """(x - 127.5) / 127.5: pixels to [-1, 1], as the main scripts do after loading."""
    return ((x_uint8.astype(np.float32) - 127.5) / 127.5).astype(np.float32)


def fashion_transpose(x: np.ndarray) -> np.ndarray:
    """``fMNIST_process.py`` transposes every 28x28 image (rows <-> columns) before anything else."""
    return np.ascontiguousarray(np.swapaxes(x, 1, 2))


# -- labels -------------------------------------------------------------------------------------------------

def relabel_order(train_counts) -> np.ndarray:
    """``relabel``: classes re-indexed by ascending training count (stable mergesort).

    Returns ``order`` with ``order[new] = original``; new label 0 is the smallest class.

    >>> relabel_order([4000, 2000, 1000, 750, 500, 350, 200, 100, 60, 40]).tolist()
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]
    """
    return np.argsort(np.asarray(train_counts), kind="mergesort")


def to_new_labels(y_original: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Map original labels to the ascending-count labels given ``order[new] = original``."""
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    return inverse[np.asarray(y_original)]


def to_original_labels(y_new: np.ndarray, order: np.ndarray) -> np.ndarray:
    return np.asarray(order)[np.asarray(y_new)]


def minority_classes(counts_new) -> tuple[list[int], np.ndarray]:
    """``irFind``: IR_i = N_max / N_i; every class with IR_i > 1 is a minority class.

    ``counts_new`` are the training counts in the relabelled order. Returns the minority labels (ascending)
    and ``toBalance_i = N_max - N_i`` for each of them.

    >>> minority_classes([40, 60, 100, 200, 350, 500, 750, 1000, 2000, 4000])[1].tolist()
    [3960, 3940, 3900, 3800, 3650, 3500, 3250, 3000, 2000]
    """
    counts = np.asarray(counts_new, dtype=np.int64)
    n_max = counts.max()
    minority = [int(i) for i in np.flatnonzero(n_max / counts > 1)]
    return minority, (n_max - counts[minority]).astype(np.int64)


def fake_label_probabilities(to_balance) -> np.ndarray:
    """P(i) proportional to N_max - N_i over the minority classes."""
    to_balance = np.asarray(to_balance, dtype=np.float64)
    return to_balance / to_balance.sum()


def draw_fake_labels(uniform: np.ndarray, to_balance) -> np.ndarray:
    """``randomLabelGen``: a uniform draw mapped through the cumulative probabilities.

    Returns indices into the minority list (0 = the smallest class). ``np.digitize(u, [0, cum...]) - 1`` in
    the original; a value above the last cumulative sum (float rounding) maps to the last minority class.
    """
    cum = np.cumsum(fake_label_probabilities(to_balance))
    idx = np.searchsorted(cum, np.asarray(uniform), side="right")
    return np.minimum(idx, len(cum) - 1).astype(np.int32)


def batch_layout(n: int, batch_size: int) -> tuple[int, int]:
    """``batchDivision``: sequential batches of ``batch_size``, the last one smaller.

    Returns (number of batches, size of the last batch): 9000 samples, batch 32 -> (282, 8).
    """
    nb = int(math.ceil(n / batch_size))
    return nb, n - (nb - 1) * batch_size


# -- the prepared training problem ---------------------------------------------------------------------------

@dataclass
class Prepared:
    """The arrays the game trains on, all in GAMO's relabelled (ascending-count) class order."""

    x_train: np.ndarray  # float32, scaled; (N, 784) for the dense variant, (N, H, W, C) for conv
    y_train: np.ndarray  # int64 new labels, after the training shuffle
    x_test: np.ndarray
    y_test: np.ndarray  # int64 new labels, test order unchanged
    order: np.ndarray  # order[new] = original label
    counts: np.ndarray  # training counts, new order
    minority: list[int]
    to_balance: np.ndarray
    class_rows: list[np.ndarray] = field(default_factory=list)  # per minority class: row positions (post-shuffle)
    shuffle: np.ndarray | None = None  # permutation applied to the split's training rows

    @property
    def num_classes(self) -> int:
        return len(self.order)

    @property
    def minority_sizes(self) -> list[int]:
        return [len(r) for r in self.class_rows]

    @property
    def minority_rows(self) -> np.ndarray:
        """Every minority row, class after class: the row order of the concatenated IGU matrices."""
        return np.concatenate(self.class_rows) if self.class_rows else np.zeros(0, np.int64)

    @property
    def minority_segment(self) -> np.ndarray:
        """For each row of :attr:`minority_rows`, the index of its minority class (0..len(minority)-1)."""
        return np.concatenate([np.full(len(r), k, np.int32) for k, r in enumerate(self.class_rows)])


def prepare(x_train_u8, y_train_orig, x_test_u8, y_test_orig, train_counts, *, flatten: bool,
            transpose: bool, shuffle_rng: np.random.Generator, require_minority: bool = True) -> Prepared:
    """Scale, optionally transpose, relabel by ascending count, shuffle once, and list each minority class's
    rows in the shuffled order (the sample order of its IGU)."""
    if transpose:
        x_train_u8, x_test_u8 = fashion_transpose(x_train_u8), fashion_transpose(x_test_u8)
    order = relabel_order(train_counts)
    counts_new = np.asarray(train_counts)[order]
    minority, to_balance = minority_classes(counts_new)
    if require_minority and not minority:
        raise GamoDataError(f"no minority class in training counts {list(train_counts)}: GAMO generates samples "
                            f"for classes smaller than the largest one (use --model baseline or --imbalance 1)")
    xtr, xte = scale_images(x_train_u8), scale_images(x_test_u8)
    if flatten:
        xtr, xte = xtr.reshape(len(xtr), -1), xte.reshape(len(xte), -1)
    ytr, yte = to_new_labels(y_train_orig, order), to_new_labels(y_test_orig, order)
    perm = shuffle_rng.permutation(len(xtr))  # shuffled once, never again (the original's np.random.permutation)
    xtr, ytr = xtr[perm], ytr[perm]
    rows = [np.flatnonzero(ytr == c) for c in minority]
    return Prepared(xtr, ytr.astype(np.int64), xte, yte.astype(np.int64), order, counts_new, minority, to_balance,
                    rows, perm)


# -- random numbers of one iteration ---------------------------------------------------------------------------

def iteration_rng(seed: int, iteration: int, stream: int = 1) -> np.random.Generator:
    """An independent generator per (seed, iteration): a run's random numbers do not depend on how the
    iterations are grouped into compiled chunks, and a resumed run draws exactly what it would have drawn."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), int(stream), int(iteration)])))


@dataclass
class RandomChunk:
    """Random inputs of ``length`` consecutive iterations, padded to ``capacity`` rows (fixed shapes, so the
    compiled chunk function is traced once)."""

    z_fake: np.ndarray  # (L, bs, latent) noise of the fake batch
    fake_labels: np.ndarray  # (L, bs) int32 index into the minority list
    u_real: np.ndarray  # (L, bs, 1) U(0, 0.1): D's real targets are 1 - u_real
    u_fake: np.ndarray  # (L, bs, 1) U(0, 0.1): D's fake targets
    z_gen: np.ndarray  # (L, n_minority, genClassPoints, latent): class i's noise for G->M_i and G->D_i alike
    row0: np.ndarray  # (L,) int32 first row of the iteration's batch: (it % n_batches) * batch_size
    mask: np.ndarray  # (L, bs) float32: 1 for the batch's real rows (a pass's short last batch is padded)

    def arrays(self) -> dict:
        return {"z_fake": self.z_fake, "fake_labels": self.fake_labels, "u_real": self.u_real,
                "u_fake": self.u_fake, "z_gen": self.z_gen, "row0": self.row0, "mask": self.mask}


def random_chunk(seed: int, start: int, length: int, capacity: int, batch_size: int, latent_dim: int,
                 n_minority: int, gen_points: int, to_balance, smooth_real: float = 0.1,
                 smooth_fake: float = 0.1, n_batches: int = 1, n_rows: int | None = None) -> RandomChunk:
    """Draw the random numbers of iterations ``start .. start+length-1`` (each from its own generator)."""
    if not 0 < length <= capacity:
        raise ValueError(f"chunk length {length} must be in 1..{capacity}")
    z_fake = np.zeros((capacity, batch_size, latent_dim), np.float32)
    labels = np.zeros((capacity, batch_size), np.int32)
    u_real = np.zeros((capacity, batch_size, 1), np.float32)
    u_fake = np.zeros((capacity, batch_size, 1), np.float32)
    z_gen = np.zeros((capacity, max(n_minority, 1), gen_points, latent_dim), np.float32)
    row0 = np.zeros(capacity, np.int32)
    row0[:length] = (np.arange(start, start + length) % n_batches) * batch_size
    n_rows = n_batches * batch_size if n_rows is None else n_rows
    mask = (row0[:, None] + np.arange(batch_size)[None, :] < n_rows).astype(np.float32)
    mask[length:] = 0.0
    for k in range(length):
        rng = iteration_rng(seed, start + k)
        u_real[k] = rng.uniform(0.0, smooth_real, (batch_size, 1))
        labels[k] = draw_fake_labels(rng.random(batch_size), to_balance) if n_minority else 0
        z_fake[k] = rng.standard_normal((batch_size, latent_dim))
        u_fake[k] = rng.uniform(0.0, smooth_fake, (batch_size, 1))
        if n_minority:
            # one noise batch per class, shared by its G->M and G->D updates (dense_gamo_main.py L127-130)
            z_gen[k] = rng.standard_normal((n_minority, gen_points, latent_dim))
    return RandomChunk(z_fake, labels, u_real, u_fake, z_gen, row0, mask)


def epoch_permutation(seed: int, epoch: int, n: int) -> np.ndarray:
    """Keras ``fit(shuffle=True)`` order of one F epoch (stream 2 of the training seed)."""
    return iteration_rng(seed, epoch, stream=2).permutation(n).astype(np.int32)


def one_hot(y: np.ndarray, num_classes: int) -> np.ndarray:
    out = np.zeros((len(y), num_classes), np.float32)
    out[np.arange(len(y)), np.asarray(y)] = 1.0
    return out
