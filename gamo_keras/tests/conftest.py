import os
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")
_mirror = ROOT.parent.parent / "shared" / "data"
if "SHARED_DATA_MIRROR" not in os.environ and (_mirror / "mnist").exists():
    os.environ["SHARED_DATA_MIRROR"] = str(_mirror)


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: longer end-to-end runs (excluded from make test)")
    config.addinivalue_line("markers", "learning: a short real training run must reach recorded bands (runs in make test)")


def tiny_problem(counts=(12, 6, 3), shape=(4, 4, 1), seed=0, flatten=True):
    """A synthetic imbalanced problem small enough to compile in seconds."""
    from gamo import data as gd

    rng = np.random.default_rng(seed)
    y = np.concatenate([np.full(c, i) for i, c in enumerate(counts)]).astype(np.int64)
    x = rng.integers(0, 256, (len(y),) + tuple(shape), dtype=np.uint8)
    yt = np.repeat(np.arange(len(counts)), 2)
    xt = rng.integers(0, 256, (len(yt),) + tuple(shape), dtype=np.uint8)
    return gd.prepare(x, y, xt, yt, list(counts), flatten=flatten, transpose=False,
                      shuffle_rng=np.random.default_rng(seed + 1))


def load_config(config_name="mnist", budget="full", **overrides):
    """``configs/<config_name>.py`` resolved as ``run.py`` resolves it (unknown keys refused), as a checked
    ``gamo.config.GamoConfig``; ``overrides`` may set any key, ``dataset`` included."""
    from shared_data.config import load

    from gamo import config

    return config.of(load("configs", config_name, budget, overrides))


def tiny_config(variant="dense", shape=(4, 4, 1), **kw):
    """The MNIST full config with tiny sizes (every other constant is the released one)."""
    values = dict(dataset="tiny", variant=variant, image_shape=shape, batch_size=4, max_step=24, eval_every_steps=8,
                  save_every_steps=8, xla=False, feature_dim=16, conv_filters=4, max_segment=8)
    values.update(kw)
    return load_config("mnist", "full", **values)


@pytest.fixture
def tiny():
    return tiny_problem()
