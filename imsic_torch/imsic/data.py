"""Images as the original's transform leaves them, without torchvision.

``transforms.Resize(32)`` on a 28x28 PIL image is PIL's ``resize((32, 32), BILINEAR)``; ``ToTensor`` divides by
255 and ``Normalize([0.5], [0.5])`` maps to [-1, 1] (``utils.get_transform``). The result is float32 NCHW.
"""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image

IMG_SIZE = 32


def to_model_input(x: np.ndarray, size: int = IMG_SIZE) -> torch.Tensor:
    """uint8 NHWC (one channel) -> float32 (N, 1, size, size) in [-1, 1]."""
    if x.ndim == 4:
        x = x[..., 0]
    out = np.empty((len(x), size, size), dtype=np.float32)
    for k, img in enumerate(x):
        pil = Image.fromarray(np.ascontiguousarray(img, dtype=np.uint8), mode="L")
        out[k] = np.asarray(pil.resize((size, size), Image.BILINEAR), dtype=np.float32)
    out = out / 255.0  # ToTensor (float32 division, as torchvision's)
    out = (out - 0.5) / 0.5  # Normalize([0.5], [0.5])
    return torch.from_numpy(out[:, None])


def to_categorical(y: np.ndarray, num_columns: int) -> torch.Tensor:
    """``utils.to_categorical``: one-hot rows as float32."""
    out = np.zeros((len(y), num_columns))
    out[np.arange(len(y)), y] = 1.0
    return torch.from_numpy(out.astype(np.float32))


def fixed_shuffle(n: int, seed: int = 32) -> np.ndarray:
    """``utils.shuffle``: numpy seeded 32, shuffle the images; re-seeded 32, shuffle the labels. Both draw the
    same permutation, which is ``RandomState(32).permutation(n)``."""
    return np.random.RandomState(seed).permutation(n)
