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

import argparse

import torch

from shared_data.fetch import locate
from shared_data.registry import FileSpec

from .io import StageError

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
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError for a payload, RuntimeError / EOFError for a torn file
        raise StageError(f"{path}: not a released IMSIC GAN checkpoint ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0][:120] if str(exc) else ''})") from None
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
