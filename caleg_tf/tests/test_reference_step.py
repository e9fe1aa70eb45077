"""An independent NumPy reference of one CaLeG phase-2 iteration (encoder, decoder and critic executions, the
gradient penalty included) and of the classifier on generated codes.

The reference (``shared_data.testing.npgrad``, float64) is written from the original's code, anonymous184/CaLeG at
096caad, not from this port: every constant below is the original's value, with its file and line. The port's own
graph (``CaLeGGraph``, driven by ``CaLeGGraph.phase2_step``, which is what the trainer runs) is built at tiny sizes,
its variables and Adam state are set to the same values, one iteration is run with the same batch, generated labels
and random draws (fed in place of the graph's own, ``ops.RANDOM_DRAWS``), and the losses and every updated weight
must agree to float32 precision.
"""
import numpy as np
import pytest
from shared_data.testing import npgrad as ng, references

from caleg import gaussians, ops
from caleg.graph import CaLeGGraph
from caleg.tfcompat import tf
from configs import get_config

# -- the original's constants (anonymous184/CaLeG@096caad) ------------------------------------------------------
LR = 5e-4  # configs.py L53, config_mnist['lr'] (lr_schedule 'none', L54)
BETA1 = 0.5  # configs.py L52
BETA2, ADAM_EPS = 0.999, 1e-8  # TF 1.15 AdamOptimizer defaults (caleg.py L91, L199-203)
LAMBDA = 10.0  # configs.py L78
BN_EPS, BN_DECAY = 1e-5, 0.9  # configs.py L60-61 (contrib batch_norm, fused=False, ops.py)
NOISE_STD = 0.01  # models.py L7-9: x + truncated_normal(shape, 0, 0.01), for E and D, 'add_noise' (configs.py L66)
REC_WEIGHT = 0.05  # caleg.py L187-190, cost 'l2sq'
IMQ_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)  # caleg.py L148-158, C = 2 * zdim * scale
GP_HALF = 0.5  # caleg.py L59: 0.5 * (GP(x, x_rec) + GP(x, G(z_gen))), weight 1 in the objective (L79-80)
STRIDE = 2

# -- tiny sizes (everything else: the port's MNIST config as it is) ---------------------------------------------
H = W = 6
E_FILTERS, E_LAYERS, G_FILTERS, G_LAYERS = 4, 2, 4, 2
ZDIM, NCLS = 3, 4
COUNTS = [10, 4, 2, 3]
B = 6  # r = 1: 6 generated codes, (0, 2, 2, 2) per class


def tiny_cfg():
    return get_config("mnist", "full", aug_rate=1.0, image_shape=[H, W, 1], num_classes=NCLS,
                      e_num_layers=E_LAYERS, e_num_filters=E_FILTERS, g_num_layers=G_LAYERS,
                      g_num_filters=G_FILTERS, zdim=ZDIM, batch_size=B)


# -- the reference networks (models.py) -------------------------------------------------------------------------
def batch_norm(h, p, scope, stats):
    mean = ng.mean(h, axis=(0, 1, 2), keepdims=True)
    var = ng.mean(ng.square(h - ng.const(mean.v)), axis=(0, 1, 2), keepdims=True)  # nn.moments' stop_gradient
    stats.setdefault(scope, []).append((mean.v.ravel(), var.v.ravel()))
    return (h - mean) / ng.sqrt(var + BN_EPS) * p[scope + "/gamma"] + p[scope + "/beta"]


def conv_stack(p, scope, x, stats):
    h = x
    for i in range(E_LAYERS):  # the critic uses the encoder's e_num_filters / e_num_layers (models.py L33, L39-51)
        h = ng.conv2d(h, p[f"{scope}/h{i}_conv/filter"], STRIDE, "SAME", "NHWC") + p[f"{scope}/h{i}_conv/b"]
        h = ng.relu(batch_norm(h, p, f"{scope}/h{i}_bn", stats))
    h = ng.reshape(h, (h.shape[0], -1))
    return h @ p[f"{scope}/hfinal_lin/W"] + p[f"{scope}/hfinal_lin/b"]


def encoder(p, x, noise, stats):
    return conv_stack(p, "encoder", x + NOISE_STD * noise, stats)


def decoder(p, z, stats):
    logits = z @ p["generator/classifier/lin/W"] + p["generator/classifier/lin/b"]
    h0 = H // 2 ** (G_LAYERS - 1)
    h = ng.relu(ng.reshape(z @ p["generator/h0_lin/W"] + p["generator/h0_lin/b"], (z.shape[0], h0, h0, G_FILTERS)))
    for i in range(1, G_LAYERS):
        size = h0 * 2 ** i
        h = ng.conv2d_transpose(h, p[f"generator/h{i}_deconv/filter"], STRIDE, "SAME", (size, size),
                                "NHWC") + p[f"generator/h{i}_deconv/b"]
        h = ng.relu(batch_norm(h, p, f"generator/h{i}_bn", stats))
    h = ng.conv2d_transpose(h, p["generator/hfinal_deconv/filter"], 1, "SAME", (H, W), "NHWC") \
        + p["generator/hfinal_deconv/b"]
    return ng.sigmoid(h), logits


def discriminator(p, x, noise, stats):
    h = conv_stack(p, "discriminator", x + NOISE_STD * noise, stats)
    return (h @ p["discriminator/class_lin/W"] + p["discriminator/class_lin/b"],
            h @ p["discriminator/critic_lin/W"] + p["discriminator/critic_lin/b"])


def mmd_imq(q, pz):
    return references.mmd_imq(q, pz, ZDIM, IMQ_SCALES)


def ce(logits, y):
    return -ng.log_softmax(logits)[np.arange(len(y)), y]


def adam(p, state, names, grads, lr):
    """TF1 AdamOptimizer (ApplyAdam); the one instance's beta powers advance after every apply."""
    lr_t = lr * np.sqrt(1.0 - state["b2"]) / (1.0 - state["b1"])
    for name, g in zip(names, grads):
        m = BETA1 * state["m"][name] + (1.0 - BETA1) * g.v
        v = BETA2 * state["v"][name] + (1.0 - BETA2) * g.v ** 2
        state["m"][name], state["v"][name] = m, v
        p[name] = ng.V(p[name].v - lr_t * m / (np.sqrt(v) + ADAM_EPS))
    state["b1"], state["b2"] = state["b1"] * BETA1, state["b2"] * BETA2


def gradient_penalty(p, real, other, alpha, noise, stats):
    """caleg.py L161-180 for r = 1: u = x + alpha (other - x), mean over samples of (||d critic(u) / du|| - 1)^2,
    the critic in training mode with its input noise."""
    u = real + ng.const(alpha) * (other - real)
    w = discriminator(p, u, noise, stats)[1]
    g, = ng.grad(ng.sum_(w), [u], create_graph=True)
    slopes = ng.sqrt(ng.sum_(ng.square(g), axis=(1, 2, 3)))
    return ng.mean(ng.square(slopes - 1.0))


def reference_iteration(p, adam_state, x, y, y_gen, z_gen, draws):
    """caleg.py L306-329: encoder, decoder, discriminator executions, each with its own forward pass."""
    names = {s: [k for k in p if k.startswith(s + "/") and "moving" not in k]
             for s in ("encoder", "generator", "discriminator")}
    out, stats = {}, {}
    x = ng.const(x)
    # encoder execution: rec + lambda MMD + summed CE, encoder variables only (caleg.py L77, L92)
    d = draws["enc"]
    z = encoder(p, x, d["e_noise"], stats)
    x_rec, logits = decoder(p, z, stats)
    rec = REC_WEIGHT * ng.mean(ng.sum_(ng.square(x - x_rec), axis=(1, 2, 3)))
    mmd = mmd_imq(z, ng.const(d["pz"]))
    ce_sum = ng.sum_(ce(logits, y))
    enc_obj = rec + LAMBDA * mmd + ce_sum
    out.update(rec=rec.v, mmd=mmd.v, ce=ce_sum.v, enc=enc_obj.v, z=z.v,
               train_acc=np.mean(logits.v.argmax(1) == y))
    adam(p, adam_state, names["encoder"], ng.grad(enc_obj, [p[k] for k in names["encoder"]]), LR)
    e_stats = [{k: v[0] for k, v in stats.items() if k.startswith("encoder/")}]
    stats.clear()
    # decoder execution: rec + CE_D(G(z_gen), y_gen) + CE_D(x_rec, y) - [mean w(x_rec) + mean w(G(z_gen))] (L78)
    d = draws["dec"]
    z = encoder(p, x, d["e_noise"], stats)
    x_rec, _ = decoder(p, z, stats)
    x_gen, _ = decoder(p, ng.const(z_gen), stats)
    lg_rec, w_rec = discriminator(p, x_rec, d["d_noise_rec"], stats)
    lg_gen, w_gen = discriminator(p, x_gen, d["d_noise_gen"], stats)
    rec = REC_WEIGHT * ng.mean(ng.sum_(ng.square(x - x_rec), axis=(1, 2, 3)))
    dec_obj = rec + ng.mean(ce(lg_gen, y_gen)) + ng.mean(ce(lg_rec, y)) - (ng.mean(w_rec) + ng.mean(w_gen))
    out["dec"] = dec_obj.v
    gen = [k for k in names["generator"] if not k.startswith("generator/classifier/")]  # C: no gradient, skipped
    adam(p, adam_state, gen, ng.grad(dec_obj, [p[k] for k in gen]), LR)
    e_stats.append({k: v[0] for k, v in stats.items() if k.startswith("encoder/")})
    stats.clear()
    # discriminator execution: CE_D(x, y) + CE_D(G(z_gen), y_gen) + CE_D(x_rec, y) + critic loss + GP (L79-80)
    d = draws["disc"]
    z = encoder(p, x, d["e_noise"], stats)
    x_rec, _ = decoder(p, z, stats)
    x_gen, _ = decoder(p, ng.const(z_gen), stats)
    lg_x, w_x = discriminator(p, x, d["d_noise_x"], stats)
    lg_rec, w_rec = discriminator(p, x_rec, d["d_noise_rec"], stats)
    lg_gen, w_gen = discriminator(p, x_gen, d["d_noise_gen"], stats)
    critic = ng.mean(w_rec) + ng.mean(w_gen) - 2.0 * ng.mean(w_x)
    gp = GP_HALF * (gradient_penalty(p, x, x_rec, d["alpha_rec"], d["d_noise_gp_rec"], stats)
                    + gradient_penalty(p, x, x_gen, d["alpha_gen"], d["d_noise_gp_gen"], stats))
    disc_obj = ng.mean(ce(lg_x, y)) + ng.mean(ce(lg_gen, y_gen)) + ng.mean(ce(lg_rec, y)) + critic + gp
    out.update(disc=disc_obj.v, critic=critic.v, gp=gp.v, accepted=lg_gen.v.argmax(1) == y_gen)
    adam(p, adam_state, names["discriminator"], ng.grad(disc_obj, [p[k] for k in names["discriminator"]]), LR)
    e_stats.append({k: v[0] for k, v in stats.items() if k.startswith("encoder/")})
    return out, e_stats


# the order of the graph's random ops (ops.RANDOM_DRAWS) and which reference input each one is
DRAW_ORDER = ("eps_gen", "e_noise", "pz", "d_noise_x", "d_noise_rec", "alpha_rec", "d_noise_gp_rec", "d_noise_gen",
              "alpha_gen", "d_noise_gp_gen")


def truncated_normal(rng, shape):
    out = rng.normal(size=shape)
    while (np.abs(out) > 2).any():
        bad = np.abs(out) > 2
        out[bad] = rng.normal(size=bad.sum())
    return out


def make_draws(rng, b_gen=B, aug=True, channels=1):
    """Every random tensor one phase-2 iteration draws, per network update (encoder, decoder, critic), in the order
    of ``DRAW_ORDER``: ``b_gen`` generated codes, without the generated-code draws when ``aug`` is off, images of
    ``channels`` channels; values rounded to float32 and held in float64."""
    shapes = {"eps_gen": (b_gen, ZDIM), "pz": (B, ZDIM), "alpha_rec": (B, 1, 1, 1), "alpha_gen": (b_gen, 1, 1, 1)}
    names = DRAW_ORDER if aug else [n for n in DRAW_ORDER if not n.endswith("gen")]
    draws = {}
    for part in ("enc", "dec", "disc"):
        d = {}
        for name in names:
            if name.startswith("alpha"):
                d[name] = rng.uniform(0.05, 0.95, shapes[name])
            elif name in shapes:
                d[name] = rng.normal(size=shapes[name])
            else:
                d[name] = truncated_normal(rng, (b_gen if name.endswith("gen") else B, H, W, channels))
            d[name] = d[name].astype(np.float32).astype(np.float64)
        draws[part] = d
    return draws


@pytest.fixture(scope="module")
def step():
    cfg = tiny_cfg()
    rng = np.random.RandomState(0)
    y_data = np.array([0, 1, 0, 2, 3, 0, 1, 0, 0, 3, 0, 2, 0, 3, 0, 1, 0, 0, 1])
    assert np.bincount(y_data).tolist() == COUNTS
    x_data = rng.randint(0, 256, (len(y_data), H, W, 1)).astype(np.uint8)
    g = CaLeGGraph(cfg, x_data, y_data, seed=0)
    sess = tf.Session(graph=g.graph)
    with g.graph.as_default():
        sess.run(g.init)
        sess.run(g.local_init, {g.x_train_ph: x_data, g.y_train_ph: y_data.astype(np.int32)})
        variables = {v.op.name: v for v in tf.global_variables()}
        draw_tensors = g.graph.get_collection(ops.RANDOM_DRAWS)
        # fixed weights away from the original's tiny initialisation
        p = {}
        for name, v in variables.items():
            if name.split("/")[0] not in ("encoder", "generator", "discriminator") or "Adam" in name:
                continue
            shape = v.shape.as_list()
            val = rng.uniform(0.5, 1.5, shape) if name.endswith(("gamma", "moving_variance")) \
                else rng.normal(0, 0.3, shape)
            p[name] = ng.V(val.astype(np.float32).astype(np.float64))
        # the class Gaussians of the last refit: means and sampling factors F (z = mu + eps F)
        means = rng.normal(size=(NCLS, ZDIM)).astype(np.float32)
        factors = (rng.normal(size=(NCLS, ZDIM, ZDIM)) * 0.5).astype(np.float32)
        sess.run(g.set_gauss, {g.g_mean_ph: means, g.g_factor_ph: factors})
        y_gen = gaussians.generation_labels(gaussians.generation_counts(B, 1.0, gaussians.class_weights(COUNTS)))
        assert y_gen.tolist() == [1, 1, 2, 2, 3, 3]  # round(w_c * ceil(6 r)), w = deficit share (caleg.py L492-503)
        draws = make_draws(rng)
        idx = np.array([0, 1, 3, 4, 6, 9], np.int32)
        x, y = x_data[idx].astype(np.float64) / 255.0, y_data[idx]
        z_gen = means[y_gen].astype(np.float64) + np.einsum("ni,nij->nj", draws["enc"]["eps_gen"],
                                                            factors[y_gen].astype(np.float64))
        # one shared Adam in mid-training: moments of the size of each variable's gradient, powers after 500 applies
        trainable = [k for k in p if "moving" not in k]
        state = {"b1": np.float64(np.float32(BETA1 ** 500)), "b2": np.float64(np.float32(BETA2 ** 500)), "m": {},
                 "v": {}}
        for k in trainable:
            s = 1e-2
            state["m"][k] = (rng.uniform(-1, 1, p[k].shape) * s).astype(np.float32).astype(np.float64)
            state["v"][k] = (rng.uniform(0.01, 0.1, p[k].shape) * s * s).astype(np.float32).astype(np.float64)
        assigns = {variables[k]: t.v for k, t in p.items()}
        adam_vars = {v.op.name: v for v in tf.global_variables()
                     if v.op.name.endswith(("/Adam", "/Adam_1")) or v.op.name in ("beta1_power", "beta2_power")}
        assigns[adam_vars["beta1_power"]] = state["b1"]
        assigns[adam_vars["beta2_power"]] = state["b2"]
        for k in trainable:
            assigns[adam_vars[k + "/Adam"]] = state["m"][k]
            assigns[adam_vars[k + "/Adam_1"]] = state["v"][k]
        inits = [var.initializer for var in assigns]  # fed initialisers: one execution, no op added
        sess.run(inits, {op.inputs[1]: np.asarray(val, np.float32) for op, val in zip(inits, assigns.values())})
        before = {k: t.v.copy() for k, t in p.items()}
        feeds = {part: {t: draws[part][name].astype(np.float32) for t, name in zip(draw_tensors, DRAW_ORDER)}
                 for part in draws}
        seeds = {part: np.array([0, i], np.int64) for i, part in enumerate(("enc", "dec", "disc"))}
        out = g.phase2_step(sess, idx, y_gen, seeds, feeds)
        got = sess.run({k: variables[k] for k in p})
        got_adam = sess.run({k: v for k, v in adam_vars.items()})
    ref_p = dict(p)
    ref_state = {k: (dict(v) if isinstance(v, dict) else v) for k, v in state.items()}
    ref, e_stats = reference_iteration(ref_p, ref_state, x, y, y_gen, z_gen, draws)
    yield dict(g=g, sess=sess, out=out, ref=ref, got=got, ref_p=ref_p, before=before, got_adam=got_adam,
               ref_state=ref_state, e_stats=e_stats, draws=draws, z_gen=z_gen, y_gen=y_gen)
    sess.close()


def test_draw_order_is_the_documented_one(step):
    names = [t.name for t in step["g"].graph.get_collection(ops.RANDOM_DRAWS)][:len(DRAW_ORDER)]
    scopes = [n.split("/")[0] for n in names]
    assert scopes == ["stateless_random_normal", "encoder", "stateless_random_normal_1", "discriminator",
                      "discriminator_1", "stateless_random_uniform", "discriminator_2", "discriminator_3",
                      "stateless_random_uniform_1", "discriminator_4"]


def test_reference_phase2_losses(step):
    out, ref = step["out"], step["ref"]
    for k in ("rec", "ce", "enc", "dec", "disc", "critic", "gp"):
        np.testing.assert_allclose(out[k], ref[k], rtol=1e-5, atol=1e-6, err_msg=k)
    np.testing.assert_allclose(out["mmd"], ref["mmd"], rtol=1e-4, atol=2e-6)
    np.testing.assert_allclose(out["z"], ref["z"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["z_gen"], step["z_gen"], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(out["accepted"], ref["accepted"])
    assert out["train_acc"] == pytest.approx(ref["train_acc"])


def close_to_update(got, ref, before, rel=2e-3):
    got, ref, before = (np.asarray(a, np.float64) for a in (got, ref, before))
    tol = 4 * np.spacing(np.abs(ref).astype(np.float32)).astype(np.float64) + rel * np.abs(ref - before) + 1e-12
    return np.abs(got - ref) <= tol


def test_reference_phase2_updates_every_weight(step):
    bad, frozen = [], []
    for name in step["ref_p"]:
        if "moving" in name:
            continue
        got, ref, before = step["got"][name], step["ref_p"][name].v, step["before"][name]
        if name.startswith("generator/classifier/"):
            frozen.append(name)  # the classifier sits in `generator` and gets no gradient in phase 2 (caleg.py L92-93)
            np.testing.assert_array_equal(got, before)
            continue
        ok = close_to_update(got, ref, before)
        if not ok.all():
            i = np.argmax(~ok.ravel())
            bad.append(f"{name}: got {got.ravel()[i]!r} reference {ref.ravel()[i]!r} (before "
                       f"{before.ravel()[i]!r}), {int((~ok).sum())} of {ok.size} off")
    assert frozen and not bad, "\n".join(bad)


def test_reference_phase2_adam_and_encoder_batch_norm(step):
    got, ref = step["got_adam"], step["ref_state"]
    # one Adam instance: its bias-correction powers advance on each of the three applies (caleg.py L91-94)
    np.testing.assert_allclose(got["beta1_power"], ref["b1"], rtol=1e-6)
    np.testing.assert_allclose(got["beta2_power"], ref["b2"], rtol=1e-6)
    for k in ref["m"]:
        np.testing.assert_allclose(got[k + "/Adam"], ref["m"][k], rtol=2e-4, atol=3e-3 * np.abs(ref["m"][k]).max(),
                                   err_msg=k)
        np.testing.assert_allclose(got[k + "/Adam_1"], ref["v"][k], rtol=2e-4, atol=1e-9, err_msg=k)
    # E runs once in each execution: three in-place updates m <- m - (1 - decay) (m - batch moment). (G and D run
    # several times in one execution, in an order the graph does not fix, in the original too: not compared.)
    for i in range(E_LAYERS):
        scope = f"encoder/h{i}_bn"
        mean, var = step["before"][scope + "/moving_mean"], step["before"][scope + "/moving_variance"]
        assert len(step["e_stats"]) == 3
        for stats in step["e_stats"]:
            bm, bv = stats[scope]
            mean, var = mean - (1 - BN_DECAY) * (mean - bm), var - (1 - BN_DECAY) * (var - bv)
        np.testing.assert_allclose(step["got"][scope + "/moving_mean"], mean, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(step["got"][scope + "/moving_variance"], var, rtol=1e-5, atol=1e-6)


def test_classifier_on_generated_codes_and_evaluation_graph(step):
    """C on the iteration's generated codes, and the evaluation graph argmax C(E(x)) (E in inference mode with its
    moving averages, input noise added as in the original's evaluation) on the decoded generated images, against
    NumPy; the latent classifier is one linear layer z -> classes inside `generator` (models.py L21-25)."""
    g, sess, got = step["g"], step["sess"], step["got"]
    p = {k: ng.V(v.astype(np.float64)) for k, v in got.items()}
    z_gen = step["out"]["z_gen"]
    with g.graph.as_default():
        from caleg import nets

        z_ph = tf.placeholder(tf.float32, [None, ZDIM])
        logits = sess.run(nets.classify(z_ph, tiny_cfg()), {z_ph: z_gen})
        ref = decoder(p, ng.const(z_gen.astype(np.float64)), {})[1].v
        np.testing.assert_allclose(logits, ref, rtol=1e-5, atol=1e-6)
        # decoded generated images, as uint8, through the evaluation path
        images = sess.run(g.x_vis, {g.z_vis: z_gen})
        x_eval = np.round(images * 255).astype(np.uint8)
        draw = g.graph.get_collection(ops.RANDOM_DRAWS)[11]
        assert draw.name.startswith("encoder_2/")  # the evaluation encoder's input noise
        noise = truncated_normal(np.random.RandomState(5), x_eval.shape).astype(np.float32)
        got_logits = sess.run(g.eval_logits, {g.x_eval: x_eval, draw: noise})
    h = ng.const(x_eval.astype(np.float32).astype(np.float64) / 255.0 + NOISE_STD * noise.astype(np.float64))
    for i in range(E_LAYERS):
        s = f"encoder/h{i}_bn"
        h = ng.conv2d(h, p[f"encoder/h{i}_conv/filter"], STRIDE, "SAME", "NHWC") + p[f"encoder/h{i}_conv/b"]
        h = ng.relu((h - p[s + "/moving_mean"].v) / np.sqrt(p[s + "/moving_variance"].v + BN_EPS) * p[s + "/gamma"]
                    + p[s + "/beta"])
    z = ng.reshape(h, (h.shape[0], -1)) @ p["encoder/hfinal_lin/W"] + p["encoder/hfinal_lin/b"]
    ref_logits = (z @ p["generator/classifier/lin/W"] + p["generator/classifier/lin/b"]).v
    np.testing.assert_allclose(got_logits, ref_logits, rtol=1e-4, atol=1e-5)
    assert (got_logits.argmax(1) == ref_logits.argmax(1)).all()
