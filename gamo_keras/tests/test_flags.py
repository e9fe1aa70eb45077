"""Every opt-in correction runs end to end on a tiny problem and changes the result."""
import keras
import numpy as np
import pytest

from conftest import tiny_config, tiny_problem
from gamo import backend
from gamo.train import Trainer


def _train(variant, **flags):
    shape = (8, 8, 1) if variant == "conv" else (4, 4, 1)
    prep = tiny_problem(counts=(13, 6, 3), shape=shape, flatten=variant == "dense")
    cfg = tiny_config(variant=variant, shape=shape, **flags)
    t = Trainer(cfg, prep, seed=5, progress=False, log=lambda *_: None)
    evals = []
    assert t.train(on_eval=evals.append)
    return t, evals


@pytest.fixture(scope="module")
def dense_default():
    return _train("dense")


@pytest.mark.parametrize("flags", [dict(separate_optimizers=True), dict(cls_loss="ce", adv_loss="bce"),
                                   dict(fake_bn_mode="train")])
def test_dense_flags(dense_default, flags):
    ref, _ = dense_default
    t, evals = _train("dense", **flags)
    a = [np.asarray(x) for x in keras.tree.flatten(backend.to_numpy(t.state["p"]))]
    b = [np.asarray(x) for x in keras.tree.flatten(backend.to_numpy(ref.state["p"]))]
    assert all(np.isfinite(x).all() for x in a)
    assert any(not np.allclose(x, y) for x, y in zip(a, b))
    assert len(evals) == 4 and np.allclose(evals[-1].test_prob.sum(1), 1.0, atol=1e-5)


def test_joint_feature_training_trains_f_every_iteration():
    t, evals = _train("conv", joint_feature_training=True)
    counters = backend.to_numpy(t.state["o"]["t"])
    assert list(counters) == ["shared"] and float(counters["shared"]) == 12 * (4 + 2 * 2)  # no separate F epoch
    assert "M/F" in t.state["o"]["m"] and len(evals) == 4
