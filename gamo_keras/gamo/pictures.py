"""The run's pictures: per-class recall, learning curves, generated samples (MNIST), and the image grids of
the GAMO2pix stage (matplotlib; the generated samples come from the trainer)."""
from __future__ import annotations

import numpy as np

from . import data as gdata


def eval_records(run, split: str = "test") -> list[dict]:
    """The run's evaluation lines of one set, in order (metrics.jsonl also holds other kinds of line)."""
    return [r for r in run.read_metrics() if r.get("kind") == "eval" and r.get("split") == split]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_pictures(cfg, trainer, prep, run, m) -> list[str]:
    plt = _plt()
    out = []
    # per-class recall (original label order) with the training counts
    recall = np.asarray(m["per_class_recall"])
    counts = np.asarray(prep.counts)[np.argsort(prep.order)]  # counts in original label order
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.bar(np.arange(len(recall)), recall, color="tab:blue")
    ax.set_xticks(np.arange(len(recall)), [f"{c}\n(n={n})" for c, n in enumerate(counts)], fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel("test recall")
    ax.set_title(f"{cfg.model} {cfg.dataset}: ACSA {m['acsa']:.4f}, GM {m['gm_gamo']:.4f}", fontsize=9)
    fig.tight_layout()
    fig.savefig(run.path / "per_class_recall.png", dpi=110)
    plt.close(fig)
    out.append("per_class_recall.png")
    # learning curve from metrics.jsonl
    curves = {s: eval_records(run, s) for s in ("test", "train")}
    if curves["test"]:
        fig, ax = plt.subplots(figsize=(7, 3.2))
        for s, key, label in (("test", "acsa", "test ACSA"), ("test", "gm_gamo", "test GM"),
                              ("train", "acsa", "train ACSA")):
            ax.plot([r["step"] for r in curves[s]], [r["metrics"][key] for r in curves[s]], label=label)
        ax.set_xlabel("step (2 per GAMO iteration)")
        ax.set_ylim(0, 1)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(run.path / "curves.png", dpi=110)
        plt.close(fig)
        out.append("curves.png")
    # MNIST: generated samples are images already (the original's 9x3 grid of Pictures/)
    if cfg.model == "gamo" and cfg.variant == "dense" and prep.minority:
        rng = gdata.iteration_rng(trainer.seed, 0, stream=4)
        rows = []
        for k in range(len(prep.minority)):
            x, _ = trainer.sample(k, rng.standard_normal((3, cfg.latent_dim)).astype(np.float32))
            rows.append(x.reshape((3,) + tuple(cfg.image_shape)))
        save_grid(np.stack(rows), run.path / "samples.png", prep, "generated samples (rows: minority classes)")
        out.append("samples.png")
    return out


def save_grid(images, path, prep, title, row_labels=None):
    """``images``: (rows, cols, H, W, C) in [-1, 1]."""
    plt = _plt()
    r, c = images.shape[:2]
    fig, axes = plt.subplots(r, c, figsize=(c * 0.9 + 0.8, r * 0.9 + 0.4), squeeze=False)
    for i in range(r):
        for j in range(c):
            img = (images[i, j] + 1.0) / 2.0
            ax = axes[i, j]
            ax.imshow(img[..., 0] if img.shape[-1] == 1 else np.clip(img, 0, 1), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                label = row_labels[i] if row_labels else f"{int(prep.order[prep.minority[i]])}"
                ax.set_ylabel(label, fontsize=7)
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
