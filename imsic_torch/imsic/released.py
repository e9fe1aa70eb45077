"""The two GANs that the IMSIC authors released (fudonglin/IMSIC@649abbd, ``models/gan/``).

``GAN_MNIST.pt`` (code_dim 4) and ``GAN_Fashion_MNIST.pt`` (code_dim 3) are the checkpoints the released
generation code loads (``utils.get_trained_generator_discriminator``): a dict of the generator's and the
discriminator's state dicts and the training script's ``argparse.Namespace`` (500 epochs, batch 64, lr 2e-4,
betas 0.5/0.999, latent 62). They are found like a dataset file (data root, then mirrors, then a download from
the repository where a network exists), checked against their checksums, and read with ``weights_only=True``:
``argparse.Namespace`` is the one class allowed beyond tensors and containers, so a planted pickle cannot run
code.
"""
from __future__ import annotations

import argparse  # torch is imported where it is used: run.py reads code_dim before torch loads

from shared_data.fetch import locate
from shared_data.registry import FileSpec

from .errors import StageError, reason

COMMIT = "649abbde1607b3c256f331de57db103169bf9756"
LABEL = "released@649abbd"
_RAW = f"https://raw.githubusercontent.com/fudonglin/IMSIC/{COMMIT}/models/gan"

# dataset -> (file name, md5, sha256, size, code_dim)
_FILES = {
    "mnist": ("GAN_MNIST.pt", "83193a613de89a07d152922d8db994ae",
              "6974bd1b440c4d11567758a4f4ac8e26b98d75463e5451feff74c637bf793e33", 3857043, 4),
    "fashion": ("GAN_Fashion_MNIST.pt", "661bb7d83059236df3729b63085f1552",
                "dc9727d259ee26162e389c85a18b65c1cc2cc4b2b2a4458f6aa46249d637bc72", 3822219, 3),
}


def file_spec(dataset: str) -> FileSpec:
    """The released GAN of ``dataset`` as a canonical file under ``<data root>/imsic/``."""
    if dataset not in _FILES:
        raise ValueError(f"--gan released: the IMSIC authors released GANs for {' and '.join(_FILES)} only, "
                         f"not {dataset!r}; use --gan train")
    name, md5, sha256, size, _ = _FILES[dataset]
    return FileSpec(name, "imsic", (f"{_RAW}/{name}",), md5, sha256, size)


def code_dim(dataset: str) -> int:
    return _FILES[dataset][4]


def read_checkpoint(path) -> dict:
    """A checkpoint in the released layout: ``{"generator": ..., "discriminator": ..., "parameters": ...}``,
    with ``parameters`` returned as a plain dict. Anything else is a one-line ``StageError``."""
    import torch

    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError for a payload, RuntimeError / EOFError for a torn file
        raise StageError(f"{path}: not a released IMSIC GAN checkpoint ({reason(exc)})") from None
    if not isinstance(blob, dict) or not {"generator", "discriminator"} <= set(blob):
        raise StageError(f"{path}: not a released IMSIC GAN checkpoint (it needs generator and discriminator "
                         f"state dicts)")
    params = blob.get("parameters")
    params = vars(params) if isinstance(params, argparse.Namespace) else dict(params or {})
    for key in ("generator", "discriminator"):
        if not isinstance(blob[key], dict) or not all(isinstance(v, torch.Tensor) for v in blob[key].values()):
            raise StageError(f"{path}: its {key} is not a state dict of tensors")
    return {"generator": blob["generator"], "discriminator": blob["discriminator"], "parameters": params}


def load(dataset: str, data_root=None, mirrors=None, download: bool = True) -> dict:
    """The authors' GAN of ``dataset``, checksum verified, with where it was found."""
    path = locate(file_spec(dataset), data_root, mirrors, download=download, quiet=True)
    out = read_checkpoint(path)
    out["path"] = path
    return out


def code_grid(generator, cfg: dict, per_code: int = 10, seed: int = 0):
    """``[code, sample]`` images of ``generator``: one row per categorical code, drawn with the dataset's
    generation settings (``category_map.generation_inputs``), the same noise in every row."""
    import numpy as np
    import torch

    from .category_map import generation_inputs

    rows = []
    with torch.no_grad():
        for k in range(cfg["n_classes"]):
            z, label, code = generation_inputs(cfg, k, per_code, np.random.RandomState(seed))
            rows.append(generator(z, label, code).cpu())
    return torch.stack(rows)


def save_code_grid(path, images, title: str, row_labels: list[str]) -> None:
    """A picture of :func:`code_grid`'s images with a label per row."""
    import io as _io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from shared_data.records import atomic_write_bytes

    n_rows, n_cols = images.shape[:2]
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(n_cols * 0.62 + 1.9, n_rows * 0.62 + 0.6))
    for r in range(n_rows):
        for c in range(n_cols):
            ax = axes[r, c]
            ax.imshow(images[r, c, 0].numpy(), cmap="gray", vmin=-1, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(row_labels[r], rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
