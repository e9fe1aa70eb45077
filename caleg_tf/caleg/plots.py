"""Pictures a person would rather look at than the JSON: decoded samples, per-class recall, curves."""
from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from shared_data.records import atomic_write_bytes  # noqa: E402


def _save(fig, path):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def sample_grid(images: np.ndarray, path: Path, per_row: int = 10, title: str = ""):
    n, h, w, c = images.shape
    rows = int(np.ceil(n / per_row))
    grid = np.ones((rows * h, per_row * w, c), dtype=np.float32)
    for i, img in enumerate(images):
        r, k = divmod(i, per_row)
        grid[r * h:(r + 1) * h, k * w:(k + 1) * w] = img
    fig, ax = plt.subplots(figsize=(per_row * 0.6, rows * 0.6 + 0.4))
    ax.imshow(grid[..., 0] if c == 1 else grid, cmap="gray" if c == 1 else None, vmin=0, vmax=1)
    ax.set_axis_off()
    ax.set_title(title, fontsize=8)
    _save(fig, path)


def per_class_recall(recall, train_counts, path: Path, title: str = ""):
    fig, ax = plt.subplots(figsize=(7, 3))
    k = np.arange(len(recall))
    ax.bar(k, recall, color="tab:blue")
    ax.set_xticks(k, [f"{i}\n(n={n})" for i, n in zip(k, train_counts)], fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel("test recall")
    ax.set_title(title, fontsize=9)
    _save(fig, path)


def training_curves(log: list[dict], test_evals: list[dict], path: Path):
    """Losses of the training lines and test metrics of the evaluation lines of metrics.jsonl, per epoch."""
    ep = [r["epoch"] + 1 for r in log]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3))
    for key in ("loss_rec", "loss_mmd", "loss_ce", "loss_dec", "loss_disc"):
        a.plot(ep, [r.get(key, np.nan) for r in log], label=key[5:], marker=".")  # no G/D loss in the warm-up
    a.set_yscale("symlog")
    a.set_xlabel("epoch")
    a.legend(fontsize=7)
    for key in ("acsa", "gmacro_dgc", "accuracy"):
        b.plot([r["epoch"] + 1 for r in test_evals], [r["metrics"][key] for r in test_evals], label=f"test {key}",
               marker=".")
    b.set_xlabel("epoch")
    b.set_ylim(0, 1)
    b.legend(fontsize=7)
    _save(fig, path)
