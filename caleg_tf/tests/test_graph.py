"""The assembled graph on narrow networks (same code, 32-wide instead of 1024): which variables each step
updates (the original's frozen classifier and shared Adam, caleg.py L88-95), the in-graph class-Gaussian
sampler, and the discriminator step for r < 1, r = 1 and r > 1 (the GP pairing of caleg.py L161-171)."""
import functools

import numpy as np
import pytest

from caleg import gaussians
from caleg.graph import CaLeGGraph
from caleg.tfcompat import tf
from configs import get_config

NARROW = {"e_num_filters": 32, "g_num_filters": 32, "d_num_filters": 32}
COUNTS = [8, 4, 2, 1]


@functools.lru_cache(maxsize=None)  # one build per configuration for the whole module
def _graph(rate=1.0, **fixes):
    cfg = get_config("mnist", "smoke", aug_rate=rate, num_classes=4, **NARROW, **fixes)
    rng = np.random.RandomState(0)
    y = np.repeat(np.arange(4), COUNTS).astype(np.int32)
    x = rng.randint(0, 256, (len(y), 28, 28, 1)).astype(np.uint8)
    g = CaLeGGraph(cfg, x, y, seed=0)
    sess = tf.Session(graph=g.graph)
    sess.run(g.init)
    sess.run(g.local_init, {g.x_train_ph: x, g.y_train_ph: y})
    return g, sess


def _y_gen(b, rate):
    return gaussians.generation_labels(gaussians.generation_counts(b, rate, gaussians.class_weights(COUNTS)))


def _phase2_iteration(g, sess, b=8, rate=1.0):
    feed = {g.batch_idx: np.arange(b, dtype=np.int32), g.y_gen: _y_gen(b, rate)}
    z_stored = sess.run([g.train_enc, g.store_z_gen], feed)[1]
    sess.run(g.train_dec, feed)
    z_seen, _, gp, acc = sess.run([g.z_gen, g.train_disc, g.loss_gp, g.accepted], feed)
    return z_stored, z_seen, gp, acc


def test_faithful_graph_freezes_the_classifier_and_shares_one_adam():
    g, sess = _graph()
    with g.graph.as_default():
        powers = [v for v in g.saved_variables() if "beta1_power" in v.name]
        assert len(powers) == 1  # one Adam instance for the four minimise ops (caleg.py L91-95)
        c_w = g.cls_vars[0]
        before = sess.run(c_w)
        sess.run(g.train_ae, {g.batch_idx: np.arange(8, dtype=np.int32)})
        after_ae = sess.run(c_w)
        assert not np.allclose(before, after_ae)  # the joint warm-up step trains C
        e_before = sess.run(g.enc_vars[0])
        _phase2_iteration(g, sess)
        assert not np.allclose(e_before, sess.run(g.enc_vars[0]))  # the encoder step trains E ...
        np.testing.assert_array_equal(after_ae, sess.run(c_w))  # ... but C stays frozen (caleg.py L92)
        assert sess.run(powers[0]) == pytest.approx(0.5 ** 5)  # bias correction advanced by 1 + 3 applies


def test_fix_flags_train_the_classifier_with_separate_optimizers_and_resampled_gp():
    fixes = dict(train_classifier_phase2=True, separate_optimizers=True, classify_generated=True,
                 gp_real_resample=True)
    g, sess = _graph(2.0, **fixes)
    with g.graph.as_default():
        powers = [v for v in g.saved_variables() if "beta1_power" in v.name]
        assert len(powers) == 4
        c_w = g.cls_vars[0]
        sess.run(g.train_ae, {g.batch_idx: np.arange(8, dtype=np.int32)})  # warm-up needs no generated labels
        before = sess.run(c_w)
        z_stored, _, gp, acc = _phase2_iteration(g, sess, b=8, rate=2.0)
        assert not np.allclose(before, sess.run(c_w))
        assert len(z_stored) == len(acc) == len(_y_gen(8, 2.0)) > 8 and np.isfinite(gp)


def test_in_graph_sampler_follows_the_fitted_gaussians_and_is_shared_within_an_iteration():
    g, sess = _graph()
    with g.graph.as_default():
        rng = np.random.RandomState(0)
        k, d = 4, 64
        means = rng.randn(k, d)
        covs = np.stack([np.cov(rng.randn(200, d).T) * (c + 1) for c in range(k)])
        sess.run(g.set_gauss, {g.g_mean_ph: means, g.g_factor_ph: gaussians.sampling_factor(covs)})
        y = np.repeat(np.arange(k), 4000).astype(np.int32)
        z = sess.run(g.z_new, {g.y_gen: y})
        for c in (0, 3):
            zc = z[y == c]
            assert np.abs(zc.mean(0) - means[c]).max() < 0.15 * np.sqrt(c + 1)
            assert np.abs(np.cov(zc.T) - covs[c]).max() < 0.2 * (c + 1)
        z_stored, z_seen, _, _ = _phase2_iteration(g, sess)
        np.testing.assert_array_equal(z_stored, z_seen)  # the discriminator execution sees the encoder's draw


@pytest.mark.parametrize("rate", [0.5, 2.0])
def test_faithful_discriminator_step_runs_for_r_below_and_above_one(rate):
    g, sess = _graph(rate)
    with g.graph.as_default():
        z_stored, _, gp, acc = _phase2_iteration(g, sess, b=8, rate=rate)
        assert len(z_stored) == len(acc) == len(_y_gen(8, rate))
        assert np.isfinite(gp) and np.ndim(gp) == 0


def test_no_aug_variant_has_no_generated_path():
    g, sess = _graph(0.0)
    with g.graph.as_default():
        assert not g.aug and not hasattr(g, "x_gen")
        feed = {g.batch_idx: np.arange(8, dtype=np.int32)}
        for op in (g.train_enc, g.train_dec, g.train_disc):
            sess.run(op, feed)
