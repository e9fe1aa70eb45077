"""An independent NumPy reference of one DGC training iteration and of the Bayes-rule prediction.

The reference (``shared_data.testing.npgrad``, float64) is written from the original's code, lvyilin/DGC at 6486aa3,
not from this port: every constant below is the original's value, with its file and line. The port's own graph
(``DGCGraph``, driven by ``DGCGraph.train_step``, which is what the trainer runs) is built at tiny sizes, its
variables and Adam state are set to the same values, one iteration is run with the same batch, prior sample and
noise, and the losses, every updated weight, the batch-norm moving averages and the Adam state must agree to float32
precision. Changing a constant of the port's config, a loss, the order of the steps or an optimiser's variable list
makes these tests fail.
"""
import numpy as np
import pytest
from shared_data.testing import npgrad as ng, references

import configs.mnist
from dgc import config, model
from dgc.tfcompat import tf

# -- the original's constants (lvyilin/DGC@6486aa3) -------------------------------------------------------------
LR = 1e-5  # configs.py L50, config_mnist['lr']
BETA1 = 0.5  # configs.py L49, config_mnist['adam_beta1'] (dgc.py L199 passes only beta1 to AdamOptimizer)
BETA2, ADAM_EPS = 0.999, 1e-8  # TF 1.14 AdamOptimizer defaults (dgc.py L199)
LAMBDA = 1.0  # configs.py L73
BN_EPS, BN_DECAY = 1e-5, 0.9  # configs.py L57-58, used by ops.py L9-13 (contrib batch_norm, fused=False)
LOGVAR_CLIP = 50.0  # dgc.py L43
SAMPLE_EPS = 1e-8  # dgc.py L101: z = mu + eps * sqrt(1e-8 + exp(sigma))
RECON_WEIGHT = 0.5  # dgc.py L184-187, cost 'l2sq' (configs.py L72)
IMQ_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)  # dgc.py L166-168, C = 2 * zdim * sigma2_p * scale
AUG_RATE = 0.6  # configs.py L83
STRIDE = 2  # models.py: conv / deconv stride 2, SAME; the decoder's last deconv stride 1

# -- tiny sizes (everything else: the port's MNIST config as it is) ---------------------------------------------
H = W = 6  # 6 -> 3 -> 2 in the encoder (the second conv pads 1 above and 2 below, as 7 -> 4 does in MNIST)
K = 4  # configs.py L59, conv_filters_dim
E_FILTERS, E_LAYERS, G_FILTERS, G_LAYERS = 4, 2, 4, 2
HDIM = 2 * 2 * E_FILTERS
ZDIM, NCLS = 3, 4
COUNTS = [10, 4, 2, 3]  # training counts per class (copies per sample 1, 1.9, 3.4, 2.4)
BATCH_Y = np.array([0, 1, 0, 2, 1, 0])  # class 3 is not in the batch: its rows of the encoder's W get no gradient
N_DATA = 10


def tiny_cfg():
    return dict(config.resolve(configs.mnist, "full"), input_shape=[H, W, 1], n_classes=NCLS, e_num_layers=E_LAYERS,
                e_num_filters=E_FILTERS, hdim=HDIM, g_num_layers=G_LAYERS, g_num_filters=G_FILTERS, zdim=ZDIM,
                test_batch_size=3, sampling_size=2)


# -- the reference model ------------------------------------------------------------------------------------------
def batch_norm(h, p, scope, training, stats):
    gamma, beta = p[scope + "/gamma"], p[scope + "/beta"]
    if not training:
        return (h - p[scope + "/moving_mean"].v) / np.sqrt(p[scope + "/moving_variance"].v + BN_EPS) * gamma + beta
    mean = ng.mean(h, axis=(0, 1, 2), keepdims=True)
    var = ng.mean(ng.square(h - ng.const(mean.v)), axis=(0, 1, 2), keepdims=True)  # nn.moments' stop_gradient
    stats[scope] = (mean.v.ravel(), var.v.ravel())
    return (h - mean) / ng.sqrt(var + BN_EPS) * gamma + beta


def encoder_features(p, x, training, stats):
    h = x
    for i in range(E_LAYERS):
        h = ng.conv2d(h, p[f"encoder/h{i}_conv/filter"], STRIDE, "SAME", "NHWC") + p[f"encoder/h{i}_conv/b"]
        h = ng.relu(batch_norm(h, p, f"encoder/h{i}_bn", training, stats))
    return ng.reshape(h, (h.shape[0], -1))


def encoder_head(p, feats, y1h):
    hid = ng.concat([feats, ng.const(y1h)], axis=1) @ p["encoder/hid_lin/W"] + p["encoder/hid_lin/b"]  # no act.
    mu = hid @ p["encoder/mu_lin/W"] + p["encoder/mu_lin/b"]
    logvar = ng.clip(hid @ p["encoder/logvar_lin/W"] + p["encoder/logvar_lin/b"], -LOGVAR_CLIP, LOGVAR_CLIP)
    return mu, logvar


def decoder(p, z, training, stats):
    h0 = H // 2 ** (G_LAYERS - 1)
    h = ng.relu(ng.reshape(z @ p["generator/h0_lin/W"] + p["generator/h0_lin/b"], (z.shape[0], h0, h0, G_FILTERS)))
    for i in range(1, G_LAYERS):
        size = h0 * 2 ** i
        h = ng.conv2d_transpose(h, p[f"generator/h{i}_deconv/filter"], STRIDE, "SAME", (size, size),
                                "NHWC") + p[f"generator/h{i}_deconv/b"]
        h = ng.relu(batch_norm(h, p, f"generator/h{i}_bn", training, stats))
    h = ng.conv2d_transpose(h, p["generator/out_deconv/filter"], 1, "SAME", (H, W), "NHWC") \
        + p["generator/out_deconv/b"]
    return ng.sigmoid(h)


def classifier(p, z):
    return z @ p["classifier/out_lin/W"] + p["classifier/out_lin/b"]


def mmd_imq(q, pz):
    return references.mmd_imq(q, pz, ZDIM, IMQ_SCALES)


def sum_ce(logits, y):
    return -ng.sum_(ng.log_softmax(logits)[np.arange(len(y)), y])


def objective(p, x, y, eps, prior):
    """dgc.py L41-62: reconstruction + lambda * MMD + summed cross-entropy, and what the step fetches."""
    stats = {}
    mu, logvar = encoder_head(p, encoder_features(p, ng.const(x), True, stats), np.eye(NCLS)[y])
    z = mu + ng.const(eps) * ng.sqrt(ng.exp(logvar) + SAMPLE_EPS)
    x_hat = decoder(p, z, True, stats)
    recon = RECON_WEIGHT * ng.mean(ng.sum_(ng.square(ng.const(x) - x_hat), axis=(1, 2, 3)))
    mmd = mmd_imq(z, ng.const(prior))
    ce = sum_ce(classifier(p, z), y)
    return recon + LAMBDA * mmd + ce, {"recon": recon.v, "mmd": mmd.v, "ce": ce.v}, stats, mu.v, logvar.v


def adam(p, slots, names, grads, lr):
    """TF1 AdamOptimizer (ApplyAdam) with its beta powers; the powers advance after the step."""
    b1p, b2p = slots["beta1_power"], slots["beta2_power"]
    lr_t = lr * np.sqrt(1.0 - b2p) / (1.0 - b1p)
    for name, g in zip(names, grads):
        m = BETA1 * slots["m"][name] + (1.0 - BETA1) * g.v
        v = BETA2 * slots["v"][name] + (1.0 - BETA2) * g.v ** 2
        slots["m"][name], slots["v"][name] = m, v
        p[name] = ng.V(p[name].v - lr_t * m / (np.sqrt(v) + ADAM_EPS))
    slots["beta1_power"], slots["beta2_power"] = b1p * BETA1, b2p * BETA2


def update_moving(p, stats):
    for scope, (mean, var) in stats.items():
        for key, val in (("moving_mean", mean), ("moving_variance", var)):
            old = p[f"{scope}/{key}"].v
            p[f"{scope}/{key}"] = ng.V(old - (1.0 - BN_DECAY) * (old - val))


def copy_rows(y_batch):
    """dgc.py L266-297: repeat each sample of class c ceil(1 + r (N_max - N_c) / N_c) times, cut the class
    block to floor(n_c (1 + r (N_max - N_c) / N_c)) rows, class blocks in class order, absent classes skipped."""
    rows = []
    for c, n_c in enumerate(COUNTS):
        idx = np.flatnonzero(y_batch == c)
        if len(idx) == 0:
            continue
        rep = 1.0 + AUG_RATE * (max(COUNTS) - n_c) / n_c
        rows.append(np.repeat(idx, int(np.ceil(rep)))[:int(np.floor(len(idx) * rep))])
    return np.concatenate(rows)


def reference_iteration(p, adam_pre, adam_main, x, y, prior, eps_lvo, eps_main, eps_aug):
    """dgc.py L360-379: LVO (encoder, pretraining Adam), main step (all, main Adam), oversampling (classifier)."""
    enc = [k for k in p if k.startswith("encoder/") and "moving" not in k]
    allv = [k for k in p if "moving" not in k]
    cls = [k for k in p if k.startswith("classifier/")]
    loss, _, stats, _, _ = objective(p, x, y, eps_lvo, prior)
    adam(p, adam_pre, enc, ng.grad(loss, [p[k] for k in enc]), LR)
    update_moving(p, stats)
    loss, parts, stats, mu, logvar = objective(p, x, y, eps_main, prior)
    adam(p, adam_main, allv, ng.grad(loss, [p[k] for k in allv]), LR)
    update_moving(p, stats)
    rows = copy_rows(y)
    z = ng.const(mu[rows] + eps_aug * np.sqrt(SAMPLE_EPS + np.exp(logvar[rows])))
    aug_ce = sum_ce(classifier(p, z), y[rows])
    adam(p, adam_main, cls, ng.grad(aug_ce, [p[k] for k in cls]), LR)
    return dict(parts, loss=loss.v, aug_ce=aug_ce.v, rows=rows)


# -- the port at the same sizes ---------------------------------------------------------------------------------
def build(cfg):
    tf.reset_default_graph()
    tf.set_random_seed(0)
    g = model.DGCGraph(cfg, COUNTS, (None, H, W, 1), seed=0)
    sess = tf.Session()
    sess.run(g.init_op)
    return g, sess


def random_weights(g, rng):
    """Weights away from the original's tiny initialisation, so that every layer matters in the losses."""
    p = {}
    for v in tf.global_variables():
        name = v.op.name
        if not name.split("/")[0] in ("encoder", "generator", "classifier") or "adam" in name:
            continue
        shape = v.shape.as_list()
        if name.endswith("moving_variance"):
            val = rng.uniform(0.5, 1.5, shape)
        elif name.endswith("gamma"):
            val = rng.uniform(0.5, 1.5, shape)
        elif name.endswith("filter"):
            val = rng.normal(0, 0.3, shape)
        else:
            val = rng.normal(0, 0.3, shape)
        p[name] = ng.V(val.astype(np.float32).astype(np.float64))
    return p


def assign(sess, values):
    """Assign {variable: numpy value} in the session (one op per variable, through placeholders)."""
    for var, val in values.items():
        ph = tf.placeholder(var.dtype.base_dtype, var.shape)
        sess.run(tf.assign(var, ph), {ph: np.asarray(val, np.float32)})


def adam_state(opt, names, p, scale, rng, power_steps):
    """A mid-training Adam state: moments of the size of each variable's gradient, powers after some steps."""
    state = {"m": {}, "v": {}, "beta1_power": np.float64(np.float32(BETA1 ** power_steps)),
             "beta2_power": np.float64(np.float32(BETA2 ** power_steps))}
    for name in names:
        s = scale[name]
        state["m"][name] = (rng.uniform(-1, 1, p[name].shape) * s).astype(np.float32).astype(np.float64)
        state["v"][name] = (rng.uniform(0.01, 0.1, p[name].shape) * s * s).astype(np.float32).astype(np.float64)
    return state


def set_adam(sess, opt, var_by_name, state):
    b1, b2 = opt._get_beta_accumulators()
    values = {b1: state["beta1_power"], b2: state["beta2_power"]}
    for name in state["m"]:
        values[opt.get_slot(var_by_name[name], "m")] = state["m"][name]
        values[opt.get_slot(var_by_name[name], "v")] = state["v"][name]
    assign(sess, values)


def read_adam(sess, opt, var_by_name, names):
    b1, b2 = opt._get_beta_accumulators()
    got = sess.run({"b1": b1, "b2": b2, "m": {n: opt.get_slot(var_by_name[n], "m") for n in names},
                    "v": {n: opt.get_slot(var_by_name[n], "v") for n in names}})
    return got


def close_to_update(got, ref, before, rel=2e-3):
    """float32 agreement of an updated value: a few ulps of the value plus a small part of the change."""
    got, ref, before = (np.asarray(a, np.float64) for a in (got, ref, before))
    tol = 4 * np.spacing(np.abs(ref).astype(np.float32)).astype(np.float64) + rel * np.abs(ref - before) + 1e-12
    return np.abs(got - ref) <= tol


@pytest.fixture(scope="module")
def step():
    cfg = tiny_cfg()
    g, sess = build(cfg)
    rng = np.random.RandomState(0)
    x_data = rng.rand(N_DATA, H, W, 1).astype(np.float32)
    y_data = np.concatenate([BATCH_Y, [3, 3, 2, 1]])
    g.load_data(sess, x_data, y_data)
    idx = np.array([0, 1, 2, 3, 4, 5])
    x, y = x_data[idx].astype(np.float64), y_data[idx]
    prior = rng.normal(size=(len(idx), ZDIM)).astype(np.float32)
    eps = {k: rng.normal(size=(n, ZDIM)).astype(np.float32)
           for k, n in (("lvo", len(idx)), ("main", len(idx)), ("oversample", len(copy_rows(y))))}

    p = random_weights(g, rng)
    var_by_name = {v.op.name: v for v in tf.global_variables()}
    trainable = [k for k in p if "moving" not in k]
    # gradient scale of each variable at the starting point, for a realistic Adam state
    loss0 = objective(p, x, y, eps["lvo"].astype(np.float64), prior.astype(np.float64))[0]
    # (the biases in front of a batch norm have no gradient: their moments are given the size 1e-3)
    grads0 = ng.grad(loss0, [p[k] for k in trainable])
    scale = {k: max(np.sqrt(np.mean(gk.v ** 2)), 1e-3) for k, gk in zip(trainable, grads0)}
    enc = [k for k in trainable if k.startswith("encoder/")]
    adam_pre = adam_state(g.pretrain_opt, enc, p, scale, rng, 1000)
    adam_main = adam_state(g.main_opt, trainable, p, scale, rng, 2000)
    # the rows of the encoder's W for the class that is not in the batch get no gradient: there the Adam epsilon
    # is of the size of sqrt(v), so a changed epsilon shows
    w_hid = "encoder/hid_lin/W"
    for st in (adam_pre, adam_main):
        st["m"][w_hid][HDIM + 3] = rng.uniform(-1, 1, HDIM) * 1e-9
        st["v"][w_hid][HDIM + 3] = rng.uniform(0.5, 2, HDIM) * 1e-17
        st["m"][w_hid] = st["m"][w_hid].astype(np.float32).astype(np.float64)
        st["v"][w_hid] = st["v"][w_hid].astype(np.float32).astype(np.float64)
    assign(sess, {var_by_name[k]: t.v for k, t in p.items()})
    set_adam(sess, g.pretrain_opt, var_by_name, adam_pre)
    set_adam(sess, g.main_opt, var_by_name, adam_main)
    before = {k: t.v.copy() for k, t in p.items()}

    keys = lambda phase: model.rng_key(0, phase, 1, 0)  # noqa: E731 (the fed noise replaces these draws)
    out = g.train_step(sess, idx, y, prior, LR, _port_copies(), keys, noise=eps)
    got = sess.run({k: var_by_name[k] for k in p})
    got_pre = read_adam(sess, g.pretrain_opt, var_by_name, enc)
    got_main = read_adam(sess, g.main_opt, var_by_name, trainable)

    ref_p = dict(p)
    ref = reference_iteration(ref_p, adam_pre, adam_main, x, y, prior.astype(np.float64),
                              *(eps[k].astype(np.float64) for k in ("lvo", "main", "oversample")))
    yield dict(g=g, sess=sess, out=out, got=got, ref=ref, ref_p=ref_p, before=before, got_pre=got_pre,
               got_main=got_main, adam_pre=adam_pre, adam_main=adam_main, p_names=list(p))
    sess.close()


def _port_copies():
    from dgc import oversample

    return oversample.copies_per_sample(COUNTS, tiny_cfg()["aug_rate"], tiny_cfg()["aug_count_rule"])


def test_reference_step_losses(step):
    out, ref = step["out"], step["ref"]
    np.testing.assert_allclose(out["recon"], ref["recon"], rtol=2e-6)
    np.testing.assert_allclose(out["ce"], ref["ce"], rtol=2e-6)
    np.testing.assert_allclose(out["mmd"], ref["mmd"], rtol=1e-4, atol=2e-6)
    np.testing.assert_allclose(out["loss"], ref["loss"], rtol=2e-6)
    assert out["aug_codes"] == len(ref["rows"]) == 9  # 3 x 1 + 2 x 1.9 -> 3 + 1 x 3.4 -> 3
    np.testing.assert_allclose(out["aug_ce"], ref["aug_ce"], rtol=2e-6)


def test_reference_step_updates_every_weight(step):
    bad = []
    for name in step["p_names"]:
        got, ref, before = step["got"][name], step["ref_p"][name].v, step["before"][name]
        assert not np.array_equal(ref, before), name  # every variable moves in this iteration
        ok = close_to_update(got, ref, before)
        if not ok.all():
            i = np.argmax(~ok.ravel())
            bad.append(f"{name}: got {got.ravel()[i]!r} reference {ref.ravel()[i]!r} (before "
                       f"{before.ravel()[i]!r}), {int((~ok).sum())} of {ok.size} off")
    assert not bad, "\n".join(bad)


def test_reference_step_adam_state(step):
    for got, ref in ((step["got_pre"], step["adam_pre"]), (step["got_main"], step["adam_main"])):
        np.testing.assert_allclose(got["b1"], ref["beta1_power"], rtol=1e-6)
        np.testing.assert_allclose(got["b2"], ref["beta2_power"], rtol=1e-6)
        for name in ref["m"]:
            # (the gradient of a bias in front of a batch norm is zero up to float32 rounding: hence the atol)
            np.testing.assert_allclose(got["m"][name], ref["m"][name], rtol=2e-4, atol=3e-3 * np.abs(
                ref["m"][name]).max() + 1e-30, err_msg=name)
            np.testing.assert_allclose(got["v"][name], ref["v"][name], rtol=2e-4, atol=1e-7 * np.abs(
                ref["v"][name]).max() + 1e-30, err_msg=name)


# -- the batched Bayes-rule prediction graph ----------------------------------------------------------------------
def reference_scores(p, x, eps, prior, group):
    """dgc.py L64-90 for each test batch of ``group`` images: per class c, z ~ q(z | x, c) (S draws), score
    0.5 * (-||x - x_hat||^2) + log p(c | z) + lambda * MMD(class-c codes of the batch, prior), log-mean-exp over
    the S draws; then softmax over the classes."""
    n, S = x.shape[0], eps.shape[1]
    feats = encoder_features(p, ng.const(x), False, {})
    scores = np.zeros((n, NCLS))
    for c in range(NCLS):
        mu, logvar = encoder_head(p, feats, np.eye(NCLS)[np.full(n, c)])
        z = mu.v[None] + eps[c] * np.sqrt(SAMPLE_EPS + np.exp(logvar.v))[None]  # [S, N, k]
        flat = ng.const(z.reshape(-1, ZDIM))
        x_hat = decoder(p, flat, False, {}).v.reshape(S, n, -1)
        log_py = ng.log_softmax(classifier(p, flat)).v[:, c].reshape(S, n)
        bound = 0.5 * -np.sum((x.reshape(1, n, -1) - x_hat) ** 2, axis=2) + log_py
        for gi in range(n // group):
            cols = slice(gi * group, (gi + 1) * group)
            mmd = mmd_imq(ng.const(z[:, cols].reshape(-1, ZDIM)), ng.const(prior[gi, c])).v
            b = bound[:, cols] + LAMBDA * mmd
            scores[cols, c] = np.log(np.mean(np.exp(b - b.max(0)), axis=0)) + b.max(0)
    probs = np.exp(scores - scores.max(1, keepdims=True))
    return scores, probs / probs.sum(1, keepdims=True)


def test_prediction_graph_against_direct_evaluation(step):
    g, sess = step["g"], step["sess"]
    p = {k: ng.V(v.astype(np.float64)) for k, v in step["got"].items()}  # the session's weights after the step
    rng = np.random.RandomState(1)
    group, S, n = 3, 2, 6  # two test batches of 3 images; S = 2 codes per class
    x = rng.rand(n, H, W, 1)
    eps = rng.normal(size=(NCLS, S, n, ZDIM)).astype(np.float32)
    prior = rng.normal(size=(n // group, NCLS, S * group, ZDIM)).astype(np.float32)
    got_scores, got_probs, got_disc = sess.run(
        [g.pred_scores, g.pred_probs, g.pred_disc_scores],
        {g.test_x: x.astype(np.float32), g.pred_eps: eps, g.pred_prior: prior, g.group_size: group,
         g.rng_key: model.rng_key(0, "predict", 0, 0)})
    ref_scores, ref_probs = reference_scores(p, x.astype(np.float32).astype(np.float64), eps.astype(np.float64),
                                             prior.astype(np.float64), group)
    np.testing.assert_allclose(got_scores, ref_scores, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(got_probs, ref_probs, rtol=1e-4, atol=1e-6)
    assert (got_probs.argmax(1) == ref_probs.argmax(1)).all()
    # p(y|z): log-mean-exp over the S codes of log p(y = c | z), z ~ q(z | x, c)
    feats = encoder_features(p, ng.const(x.astype(np.float32).astype(np.float64)), False, {})
    disc = np.zeros((n, NCLS))
    for c in range(NCLS):
        mu, logvar = encoder_head(p, feats, np.eye(NCLS)[np.full(n, c)])
        z = mu.v[None] + eps[c] * np.sqrt(SAMPLE_EPS + np.exp(logvar.v))[None]
        lp = ng.log_softmax(classifier(p, ng.const(z.reshape(-1, ZDIM)))).v[:, c].reshape(S, n)
        disc[:, c] = np.log(np.mean(np.exp(lp), axis=0))
    np.testing.assert_allclose(got_disc, disc, rtol=1e-5, atol=1e-5)
