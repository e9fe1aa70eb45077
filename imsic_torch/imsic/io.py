"""Checkpoints and images written atomically; every missing or unreadable input is a ``StageError`` whose
message is one line naming the file and the command that makes it."""
from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from shared_data import records

from .errors import StageError, reason


def save_torch(path, obj) -> Path:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return records.atomic_write_bytes(path, buf.getvalue())


def load_torch(path, what: str, remedy: str) -> dict:
    """Load a checkpoint written by ``save_torch`` (tensors, numbers, strings, lists: ``weights_only``)."""
    path = Path(path)
    if not path.exists():
        raise StageError(f"{path}: no {what}; {remedy}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types (RuntimeError, UnpicklingError, EOFError, ...)
        raise StageError(f"{path}: unreadable {what} ({reason(exc)}); delete it and {remedy}") from exc
    if not isinstance(obj, dict):
        raise StageError(f"{path}: not a {what}; delete it and {remedy}")
    return obj


def save_npz(path, **arrays) -> Path:
    return records.atomic_save_npz(path, **arrays)


def load_npz(path, what: str, remedy: str, keys=()) -> dict:
    path = Path(path)
    if not path.exists():
        raise StageError(f"{path}: no {what}; {remedy}")
    try:
        with np.load(path) as f:
            out = {k: f[k] for k in f.files}
    except Exception as exc:
        raise StageError(f"{path}: unreadable {what} ({reason(exc)}); delete it and {remedy}") from exc
    missing = [k for k in keys if k not in out]
    if missing:
        raise StageError(f"{path}: {what} lacks {', '.join(missing)}; delete it and {remedy}")
    return out


def image_grid(images: torch.Tensor, nrow: int = 10, padding: int = 2) -> np.ndarray:
    """``torchvision.utils.save_image(..., nrow, normalize=True)``'s picture as a uint8 array: min-max scaled
    over the whole batch, tiled ``nrow`` per row with a 2-pixel black border."""
    x = images.detach().float().cpu().numpy()[:, 0]
    lo, hi = float(x.min()), float(x.max())
    x = (x - lo) / max(hi - lo, 1e-5)
    n, h, w = x.shape
    ncol = min(nrow, n)
    nrows = (n + ncol - 1) // ncol
    grid = np.zeros((nrows * (h + padding) + padding, ncol * (w + padding) + padding), dtype=np.float32)
    for k in range(n):
        r, c = divmod(k, ncol)
        grid[padding + r * (h + padding):padding + r * (h + padding) + h,
             padding + c * (w + padding):padding + c * (w + padding) + w] = x[k]
    return np.clip(grid * 255 + 0.5, 0, 255).astype(np.uint8)


def save_grid(path, images: torch.Tensor, nrow: int = 10) -> Path:
    buf = io.BytesIO()
    Image.fromarray(image_grid(images, nrow), mode="L").save(buf, format="PNG")
    return records.atomic_write_bytes(path, buf.getvalue())


def exists_nonempty(path) -> bool:
    return os.path.exists(path) and os.path.getsize(path) > 0
