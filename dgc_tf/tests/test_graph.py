"""The training graph on a narrow copy of the MNIST config: which variables each step updates, which optimiser
slots it uses, and that every fix option builds and runs."""
import numpy as np
import pytest

import configs.mnist
from dgc import config, model, oversample
from dgc.tfcompat import tf

COUNTS = [4000, 2000, 1000, 750, 500, 350, 200, 100, 60, 40]


def tiny(**fixes):
    cfg = dict(config.resolve(configs.mnist, "full"), e_num_filters=32, hdim=128, g_num_filters=32, zdim=8,
               sampling_size=3)
    cfg.update(fixes)
    return cfg


def build(cfg):
    tf.reset_default_graph()
    tf.set_random_seed(0)
    g = model.DGCGraph(cfg, COUNTS, (None, 28, 28, 1), seed=0)
    sess = tf.Session()
    sess.run(g.init_op)
    rng = np.random.RandomState(0)
    x = rng.rand(40, 28, 28, 1).astype(np.float32)
    y = np.arange(40) % 10
    g.load_data(sess, x, y)
    return g, sess, x, y, rng


def values(sess, variables):
    return [v.copy() for v in sess.run(variables)]


def changed(before, after):
    return [not np.array_equal(a, b) for a, b in zip(before, after)]


def test_steps_update_only_their_variables_and_share_adam_as_coded():
    g, sess, x, y, rng = build(tiny())
    idx = np.arange(20)
    feed = {g.batch_idx: idx, g.prior: rng.randn(20, 8), g.lr: 1e-3, g.rng_key: model.rng_key(0, "main", 1, 0)}
    enc, gen, cls = g.vars["encoder"], g.vars["generator"], g.vars["classifier"]
    v0 = values(sess, enc + gen + cls)
    sess.run(g.lvo_op, feed)  # LVO: encoder only
    v1 = values(sess, enc + gen + cls)
    ch = changed(v0, v1)
    assert all(ch[:len(enc)]) and not any(ch[len(enc):])
    _, mu, lv = sess.run([g.main_op, g.mu, g.logvar], feed)  # main: everything
    v2 = values(sess, enc + gen + cls)
    assert all(changed(v1, v2))
    rows = oversample.augment_indices(y[idx], oversample.copies_per_sample(COUNTS, 0.6))
    sess.run(g.aug_op, {g.aug_mu: mu[rows], g.aug_logvar: lv[rows], g.aug_y: y[idx][rows], g.aug_src: idx[rows],
                        g.lr: 1e-3, g.rng_key: model.rng_key(0, "oversample", 1, 0)})
    v3 = values(sess, enc + gen + cls)
    ch = changed(v2, v3)
    assert not any(ch[:len(enc) + len(gen)]) and all(ch[len(enc) + len(gen):])  # classifier only
    names = {v.op.name for v in tf.global_variables()}
    # faithful: LVO continues the pretraining Adam's slots, the oversampling step shares the main Adam's
    assert "encoder/hid_lin/W/pretrain_adam" in names and "classifier/out_lin/W/main_adam" in names
    assert not any("cls_adam" in n for n in names)
    probs, gen_s, disc_s = g.predict(sess, x[:20], 10)
    assert probs.shape == gen_s.shape == disc_s.shape == (20, 10)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
    sess.close()


@pytest.mark.parametrize("fixes", [
    dict(ce_reduction="mean", lvo_main_optimizer=True, separate_cls_optimizer=True, decode_oversampled=True,
         aug_count_rule="paper", inference_mmd="minus"),
    dict(inference_mmd="off", LVO=False, mlp_classifier=True),
])
def test_fix_options_build_and_run(fixes):
    g, sess, x, y, rng = build(tiny(**fixes))
    names = {v.op.name for v in tf.global_variables()}
    if fixes.get("separate_cls_optimizer"):
        assert "classifier/out_lin/W/cls_adam" in names
    if fixes.get("lvo_main_optimizer"):
        assert "encoder/hid_lin/W/pretrain_adam" in names  # pretraining keeps its own Adam
    idx = np.arange(20)
    feed = {g.batch_idx: idx, g.prior: rng.randn(20, 8), g.lr: 1e-3, g.rng_key: model.rng_key(0, "main", 1, 0)}
    if g.lvo_op is not None:
        sess.run(g.lvo_op, feed)
    _, mu, lv = sess.run([g.main_op, g.mu, g.logvar], feed)
    rows = oversample.augment_indices(y[idx], oversample.copies_per_sample(COUNTS, 0.6, fixes.get(
        "aug_count_rule", "code")))
    gen_before = values(sess, g.vars["generator"])
    _, rec = sess.run([g.aug_op, g.loss_aug_recon], {g.aug_mu: mu[rows], g.aug_logvar: lv[rows],
                                                      g.aug_y: y[idx][rows], g.aug_src: idx[rows], g.lr: 1e-3,
                                                      g.rng_key: model.rng_key(0, "oversample", 1, 0)})
    # decode_oversampled: the decoder learns from the decoded copies; otherwise it is untouched
    assert any(changed(gen_before, values(sess, g.vars["generator"]))) == bool(fixes.get("decode_oversampled"))
    assert (rec > 0) == bool(fixes.get("decode_oversampled"))
    probs, _, _ = g.predict(sess, x[:15], 10)  # a last, shorter test batch of 5
    assert probs.shape == (15, 10) and np.isfinite(probs).all()
    sess.close()


def test_noise_is_keyed_by_the_call_not_by_the_session():
    """The graph's noise depends only on the fed key: a new session (a resumed run) draws the same numbers, another
    key draws others, and the two draws of one prediction call (codes, MMD prior) are not the same numbers."""
    cfg = tiny()
    g, sess, x, y, rng = build(cfg)
    feed = {g.batch_idx: np.arange(20), g.prior: rng.randn(20, 8), g.rng_key: model.rng_key(0, "main", 1, 3)}
    z1 = sess.run(g.z, feed)
    saver = tf.train.Saver()
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = saver.save(sess, tmp + "/ckpt", write_meta_graph=False)
        p1 = g.predict(sess, x[:20], 10, seed=0, epoch=2)
        sess.close()
        sess = tf.Session()  # a fresh session, as a resumed run has
        sess.run(g.init_op)
        g.load_data(sess, x, y)
        saver.restore(sess, path)
    for a, b in zip(g.predict(sess, x[:20], 10, seed=0, epoch=2), p1):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(sess.run(g.z, feed), z1)  # (a training-mode pass: it moves the BN averages)
    assert not np.array_equal(sess.run(g.z, {**feed, g.rng_key: model.rng_key(0, "lvo", 1, 3)}), z1)
    assert not np.array_equal(g.predict(sess, x[:20], 10, seed=0, epoch=3)[1], p1[1])
    keys = {tuple(model.rng_key(s, ph, e, st)) for s in (0, 1) for ph in model.PHASES for e in (0, 1, 2)
            for st in (0, 1)}
    assert len(keys) == 2 * len(model.PHASES) * 3 * 2  # every call of a run has its own key
    sess.close()
