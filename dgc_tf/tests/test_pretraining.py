"""The encoder pretraining of the original (lvyilin/DGC at 6486aa3, `dgc.py` L117-129 and L239-264), recomputed
independently: one step of the port's graph against a NumPy reference (moment matching of the encoder's codes
against a prior sample, an Adam step of the encoder alone on the pretraining Adam, the batch-norm averages), and
the loop around it (how many images, drawn how, and when it stops).

In a faithful run this is what trains the encoder before the first epoch, and what the LVO step's Adam continues.
"""
import copy

import numpy as np
import pytest
from shared_data.testing import npgrad as ng

import configs.mnist
from dgc import config, model, train
from test_reference_step import (LR, N_DATA, NCLS, SAMPLE_EPS, ZDIM, adam, adam_state, assign, build,
                                 close_to_update, encoder_features, encoder_head, random_weights, read_adam, set_adam,
                                 tiny_cfg, update_moving)

# configs.py, config_mnist: e_pretrain True, e_pretrain_sample_size 1000, e_pretrain_steps 200 (the loop's bound),
# e_pretrain_threshold 0.1 (dgc.py: stop once the loss is below it)
SAMPLE_SIZE, STEPS, THRESHOLD = 1000, 200, 0.1


def moment_matching(z, prior):
    """dgc.py L117-129: mean over entries of (mean_p - mean_q)^2 plus that of (cov_p - cov_q)^2, each covariance
    divided by the sample size - 1."""
    n = z.shape[0]
    mq = ng.mean(z, axis=0, keepdims=True)
    cq = ng.matmul(ng.transpose(z - mq), z - mq) * (1.0 / (n - 1))
    mp = prior.mean(axis=0, keepdims=True)
    cp = (prior - mp).T @ (prior - mp) / (n - 1)
    return ng.mean(ng.square(ng.const(mp) - mq)) + ng.mean(ng.square(ng.const(cp) - cq))


@pytest.fixture(scope="module")
def pretrain_step():
    g, sess = build(tiny_cfg())
    rng = np.random.RandomState(11)
    x_data = rng.rand(N_DATA, 6, 6, 1).astype(np.float32)
    y_data = np.array([0, 1, 0, 2, 1, 0, 3, 3, 2, 1])
    g.load_data(sess, x_data, y_data)
    idx = np.array([7, 2, 9, 0, 4, 5, 1])  # every class, 7 images: the covariance's n - 1 is not n
    x, y = x_data[idx].astype(np.float64), y_data[idx]
    prior = rng.normal(size=(len(idx), ZDIM)).astype(np.float32)
    eps = rng.normal(size=(len(idx), ZDIM)).astype(np.float32)

    p = random_weights(g, rng)
    enc = [k for k in p if k.startswith("encoder/") and "moving" not in k]
    var_by_name = {v.op.name: v for v in model.tf.global_variables()}

    def reference_loss(params):
        stats = {}
        mu, logvar = encoder_head(params, encoder_features(params, ng.const(x), True, stats), np.eye(NCLS)[y])
        z = mu + ng.const(eps.astype(np.float64)) * ng.sqrt(ng.exp(logvar) + SAMPLE_EPS)
        return moment_matching(z, prior.astype(np.float64)), stats

    loss0, _ = reference_loss(p)
    grads0 = ng.grad(loss0, [p[k] for k in enc])
    # A bias in front of a batch norm has a zero gradient, which float32 leaves as noise of about 1e-5 here: its
    # Adam moments are given a size at which that noise stays below the tolerance of an update.
    scale = {k: max(np.sqrt(np.mean(gk.v ** 2)), 1e-1 if k.endswith("_conv/b") else 1e-3)
             for k, gk in zip(enc, grads0)}
    state = adam_state(g.pretrain_opt, enc, p, scale, rng, 30)
    assign(sess, {var_by_name[k]: t.v for k, t in p.items()})
    set_adam(sess, g.pretrain_opt, var_by_name, state)
    before = {k: t.v.copy() for k, t in p.items()}

    _, got_loss = sess.run([g.pretrain_op, g.loss_pretrain],
                           {g.batch_idx: idx, g.prior: prior, g.eps: eps, g.rng_key: model.rng_key(0, "pretrain")})
    got = sess.run({k: var_by_name[k] for k in p})
    got_adam = read_adam(sess, g.pretrain_opt, var_by_name, enc)
    sess.close()

    # the reference step: TF1 AdamOptimizer(lr, beta1=0.5) without decay, encoder variables only, and contrib
    # batch_norm's in-place update of its averages on the training pass
    loss, stats = reference_loss(p)
    ref_p, ref_adam = dict(p), copy.deepcopy(state)
    adam(ref_p, ref_adam, enc, ng.grad(loss, [p[k] for k in enc]), LR)
    update_moving(ref_p, stats)
    return dict(got_loss=got_loss, ref_loss=loss.v, got=got, ref={k: t.v for k, t in ref_p.items()}, before=before,
                enc=enc, got_adam=got_adam, ref_adam=ref_adam, stats=stats)


def test_reference_pretraining_step_loss_and_encoder_update(pretrain_step):
    s = pretrain_step
    np.testing.assert_allclose(s["got_loss"], s["ref_loss"], rtol=2e-5)
    moved = [k for k in s["enc"] if not np.array_equal(s["got"][k], s["before"][k])]
    assert len(moved) == len(s["enc"]), "every encoder variable takes a step"
    for k in s["enc"]:
        ok = close_to_update(s["got"][k], s["ref"][k], s["before"][k])
        assert ok.all(), f"{k}: {np.abs(s['got'][k] - s['ref'][k]).max()}"
    for k in s["ref"]:  # the decoder and the classifier are not pretrained
        if k.startswith(("generator/", "classifier/")):
            assert np.array_equal(s["got"][k], s["before"][k]), k


def test_reference_pretraining_step_batch_norm_and_adam_state(pretrain_step):
    s = pretrain_step
    assert s["stats"], "the encoder has batch norms"
    for k in s["ref"]:
        if "moving" in k and k.startswith("encoder/"):
            np.testing.assert_allclose(s["got"][k], s["ref"][k], rtol=1e-5, atol=1e-7, err_msg=k)
    ref = s["ref_adam"]  # the moments and powers after the step
    np.testing.assert_allclose(s["got_adam"]["b1"], ref["beta1_power"], rtol=1e-6)
    np.testing.assert_allclose(s["got_adam"]["b2"], ref["beta2_power"], rtol=1e-6)
    for k in s["enc"]:
        np.testing.assert_allclose(s["got_adam"]["m"][k], ref["m"][k], rtol=1e-4,
                                   atol=1e-9 + 3e-3 * np.abs(ref["m"][k]).max() * k.endswith("_conv/b"), err_msg=k)
        np.testing.assert_allclose(s["got_adam"]["v"][k], ref["v"][k], rtol=1e-4, atol=1e-14, err_msg=k)


class _Session:
    """Stands in for the session: records each pretraining call's feed and returns the scripted losses."""

    def __init__(self, g, losses):
        self.g, self.losses, self.feeds = g, list(losses), []

    def run(self, fetches, feed):
        assert fetches == [self.g.pretrain_op, self.g.loss_pretrain]
        self.feeds.append(feed)
        return None, self.losses[len(self.feeds) - 1]


class _Graph:
    pretrain_op, loss_pretrain, batch_idx, prior, rng_key = "op", "loss", "idx", "prior", "key"


def _loop(n_train, losses):
    cfg = dict(config.resolve(configs.mnist, "full"))
    trainer = train.Trainer.__new__(train.Trainer)  # the loop alone: no graph is built
    trainer.cfg, trainer.g, trainer.seed, trainer.progress = cfg, _Graph(), 0, False
    trainer.x_train = np.zeros((n_train, 1), np.float32)
    trainer.sess = _Session(trainer.g, losses)
    return trainer.pretrain(), trainer.sess.feeds, cfg


def test_pretraining_loop_draws_without_replacement_and_stops_below_the_threshold():
    losses = [0.5, 0.3, 0.11, THRESHOLD, 0.09, 0.01]
    info, feeds, cfg = _loop(4000, losses)
    assert (cfg["e_pretrain"], cfg["e_pretrain_sample_size"], cfg["e_pretrain_steps"],
            cfg["e_pretrain_threshold"]) == (True, SAMPLE_SIZE, STEPS, THRESHOLD)
    # 0.1 is not below 0.1: the loop stops after the step whose loss is 0.09
    assert info == {"steps": 5, "first_loss": 0.5, "last_loss": 0.09}
    for i, feed in enumerate(feeds):
        idx = feed["idx"]
        assert idx.shape == (SAMPLE_SIZE,) and len(np.unique(idx)) == SAMPLE_SIZE and idx.max() < 4000
        assert feed["prior"].shape == (SAMPLE_SIZE, cfg["zdim"]) and feed["prior"].dtype == np.float32
        assert list(feed["key"]) == list(model.rng_key(0, "pretrain", 0, i))
    assert not np.array_equal(feeds[0]["idx"], feeds[1]["idx"]), "each step draws new images"
    assert abs(np.mean([f["prior"].std() for f in feeds]) - 1.0) < 0.05, "the prior is N(0, 1)"


def test_pretraining_loop_takes_at_most_its_steps_and_at_most_the_training_set():
    info, feeds, _ = _loop(300, [1.0] * (STEPS + 5))
    assert info["steps"] == len(feeds) == STEPS
    assert all(sorted(f["idx"]) == list(range(300)) for f in feeds)  # fewer images than the sample: all of them
