"""Images to tensors as the original's transforms do (custom_data_loader.py / train.py load_data_set):
Pad(2) to 32x32, ToTensor, Normalize(0.5, 0.5); no augmentation. Whole sets live on the device as one tensor."""
from __future__ import annotations

import numpy as np
import torch


def to_tensor(x_uint8: np.ndarray, device) -> torch.Tensor:
    """(N, 28, 28, 1) uint8 -> (N, 1, 32, 32) float in [-1, 1], zero-padded by 2 (pad value 0 maps to -1)."""
    x = torch.from_numpy(np.ascontiguousarray(x_uint8)).permute(0, 3, 1, 2).float().div_(255.0)
    x = torch.nn.functional.pad(x, (2, 2, 2, 2))
    return x.sub_(0.5).div_(0.5).to(device)


class BatchSampler:
    """``next(iter(DataLoader(shuffle=True)))``: each call is the head of a fresh random permutation, i.e. B distinct
    random images, independent between calls (the original re-creates the iterator every iteration)."""

    def __init__(self, n: int, batch_size: int, generator: torch.Generator):
        self.n, self.batch_size, self.generator = n, batch_size, generator

    def __call__(self) -> torch.Tensor:
        return torch.randperm(self.n, generator=self.generator)[: self.batch_size]


def stratified_holdout(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train positions, validation positions): ``fraction`` of each class (at least one image) held out."""
    rng = np.random.RandomState(seed)
    train, val = [], []
    for c in np.unique(y):
        pos = np.flatnonzero(y == c)
        pos = pos[rng.permutation(len(pos))]
        k = max(1, int(round(fraction * len(pos)))) if len(pos) > 1 else 0
        val.append(pos[:k])
        train.append(pos[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))
