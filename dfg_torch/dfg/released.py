"""The channel-evaluation outputs that the DFG authors shipped (opensuh/DFG@41fa92d, ``model/<name>/config/``).

``train.py --mode channel_evaluation`` wrote three files per setting from the authors' own source networks, which
were never published; the LeNet-5 settings are Fashion-MNIST and SVHN:

    generator_attention_<name>.npy     K x C class attention (rows sum to 1), float64, 10 x 6
    transpose_wj_extractor_<name>.npy  the extractor's channel weights, float64, 6
    channel_weight_<name>.json         one list per hooked classifier layer: [[16 floats]]

They are found like a dataset file (data root, then mirrors, then a download from the repository where a network
exists), checked against their checksums, and read without pickle (``allow_pickle=False``, plain JSON).
"""
from __future__ import annotations

import json
import math

import numpy as np

from shared_data.fetch import DataError, locate
from shared_data.registry import FileSpec

COMMIT = "41fa92d9f6444c70c82387da92bd9492cc8da240"
LABEL = "released@41fa92d"
_RAW = f"https://raw.githubusercontent.com/opensuh/DFG/{COMMIT}/model"

# dataset -> (the repository's setting name, {role: (file name, md5, sha256, size)})
_FILES = {
    "fashion": ("lenet_fashion_mnist", {
        "attention": ("generator_attention_lenet_fashion_mnist.npy", "04c9b589737bea4bcbe996d8faef2fec",
                      "c2792c7b8487e0b226308d74ca99961729fe6da72b96d05257ba7704f16b37cb", 608),
        "extractor": ("transpose_wj_extractor_lenet_fashion_mnist.npy", "753c86ffc281a9e195f7a8ac1a02d7be",
                      "368c2c818178cee7c3b04af002f0f9e24191427931666270657ff9482d381d68", 176),
        "classifier": ("channel_weight_lenet_fashion_mnist.json", "67d0b333b6df887824751cb3937a3f8a",
                       "e8219cc329238bc1a0b79cafa165287173971fb23d4585f88c81eac153fe1420", 349),
    }),
    "svhn": ("lenet_svhn", {
        "attention": ("generator_attention_lenet_svhn.npy", "cfb5f22a36e2feaa35cbbdfd89381a5c",
                      "8d01a378c7828bc8a2e6b218a8f0e631ad2a9c0ca32631d1f21282436b85195c", 608),
        "extractor": ("transpose_wj_extractor_lenet_svhn.npy", "8ecff42737929d62ebaf644db19921de",
                      "e7e6a322a43a58e5887521eea10b69fef2bac38838df52492f605c2298634f11", 176),
        "classifier": ("channel_weight_lenet_svhn.json", "8f3b353ad7731d95930fc8391106702c",
                       "be67ad9126d7a5397fae695c820cb4d2a5b6c1955cf18664b3476ffb6ed7bb0f", 358),
    }),
}
SHAPES = {"attention": (10, 6), "extractor": (6,), "classifier": (1, 16)}


def file_specs(dataset: str) -> dict[str, FileSpec]:
    """The three files of ``dataset``'s setting, as canonical files under ``<data root>/dfg/<setting>/``."""
    if dataset not in _FILES:
        raise ValueError(f"--channel-eval released: the DFG authors shipped channel-evaluation outputs for LeNet-5 "
                         f"on {' and '.join(sorted(_FILES))} only, not {dataset!r}; use --channel-eval computed")
    setting, files = _FILES[dataset]
    return {role: FileSpec(name, f"dfg/{setting}", (f"{_RAW}/{setting}/config/{name}",), md5, sha256, size)
            for role, (name, md5, sha256, size) in files.items()}


def _checked(name: str, array: np.ndarray, role: str) -> np.ndarray:
    if array.shape != SHAPES[role]:
        raise DataError(f"{name}: shape {array.shape}, expected {SHAPES[role]}; replace it with the file from "
                        f"opensuh/DFG@{COMMIT[:7]}")
    if not np.isfinite(array).all():
        raise DataError(f"{name}: holds non-finite values; replace it with the file from opensuh/DFG@{COMMIT[:7]}")
    return array


def load(dataset: str, data_root=None, mirrors=None, download: bool = True) -> dict:
    """The authors' channel evaluation for ``dataset`` in the layout of the port's ``channel_eval.json``."""
    paths = {role: locate(spec, data_root, mirrors, download=download, quiet=True)
             for role, spec in file_specs(dataset).items()}
    arrays = {}
    for role in ("attention", "extractor"):
        try:
            arrays[role] = _checked(paths[role].name, np.load(paths[role], allow_pickle=False).astype(np.float64),
                                    role)
        except ValueError as exc:  # a pickled object array, or not an .npy file at all
            raise DataError(f"{paths[role]}: not a plain .npy array ({exc})") from None
    try:
        layers = json.loads(paths["classifier"].read_text())
        arrays["classifier"] = _checked(paths["classifier"].name, np.asarray(layers, dtype=np.float64), "classifier")
    except (ValueError, TypeError) as exc:
        raise DataError(f"{paths['classifier']}: not a list of 16 channel weights ({exc})") from None
    rows = arrays["attention"].sum(1)
    if not all(math.isclose(r, 1.0, abs_tol=1e-6) for r in rows):
        raise DataError(f"{paths['attention']}: rows of the class attention must sum to 1, got {rows.round(6)}")
    return {"generator_attention": arrays["attention"].tolist(), "extractor_weights": arrays["extractor"].tolist(),
            "classifier_weights": arrays["classifier"].tolist(), "source": LABEL}
