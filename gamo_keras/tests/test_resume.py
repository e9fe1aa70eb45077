"""An interrupted run resumes from its last checkpoint and ends where an uninterrupted run ends."""
import keras
import numpy as np
import pytest

from conftest import tiny_config, tiny_problem
from gamo import backend
from gamo.train import Trainer, latest_checkpoint


def _final(trainer):
    return [np.asarray(a) for a in keras.tree.flatten(backend.to_numpy(trainer.state))]


def _run(tmp_path, variant, stop_after=None, resume=False):
    shape = (8, 8, 1) if variant == "conv" else (4, 4, 1)
    prep = tiny_problem(counts=(13, 6, 3), shape=shape, flatten=variant == "dense")
    cfg = tiny_config(variant=variant, shape=shape)
    evals = []
    t = Trainer(cfg, prep, seed=3, checkpoint_dir=tmp_path, progress=False, log=lambda *_: None)
    if not (resume and t.resume()):
        t.init_state()
    done = t.train(on_eval=lambda ev: evals.append((ev.step, ev.test_prob)), stop_after=stop_after)
    return t, done, evals


def _check(tmp_path, variant):
    ref, done, ref_evals = _run(tmp_path / "ref", variant)
    assert done and ref.iteration == 12
    # 22 samples, batch 4: 6 batches per pass, the last of 2 (a masked full-size batch) is exercised
    assert ref.n_batches == 6 and ref.last == 2
    part, done, _ = _run(tmp_path / "cut", variant, stop_after=4)
    assert not done and part.iteration == 4
    assert latest_checkpoint(tmp_path / "cut").name == "state_000004.npz"
    rest, done, rest_evals = _run(tmp_path / "cut", variant, resume=True)
    assert done
    for a, b in zip(_final(ref), _final(rest)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    ref_tail = [e for e in ref_evals if e[0] >= rest_evals[0][0]]
    assert [e[0] for e in ref_tail] == [e[0] for e in rest_evals]
    np.testing.assert_allclose(ref_tail[-1][1], rest_evals[-1][1], rtol=1e-5, atol=1e-6)


def test_dense_resume_matches_uninterrupted(tmp_path):
    _check(tmp_path, "dense")


def test_conv_resume_inside_an_outer_epoch_matches_uninterrupted(tmp_path):
    _check(tmp_path, "conv")  # stops at iteration 4 of the first pass: features come back from the same F


def test_a_checkpoint_holding_a_pickle_is_refused_without_running_it(tmp_path):
    from gamo.train import load_state

    marker = tmp_path / "pickle-ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "state_000010.npz"
    np.savez(path, meta=np.array([Payload()], dtype=object), leaf_00000=np.zeros(1))
    with pytest.raises(RuntimeError, match="state_000010.npz: unreadable checkpoint"):
        load_state(path, [np.zeros(1)])
    assert not marker.exists()
