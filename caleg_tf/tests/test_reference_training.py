"""Independent NumPy references of the steps that train the classifier and of what sets them up: the encoder
pretraining, the joint-autoencoder warm-up (in a faithful run the only step that trains C), the learning-rate
schedule, the gradient penalty for r = 2 and for the no-augmentation variant, and the CIFAR-10 / SVHN constants.

As in ``test_reference_step.py`` (whose reference networks are reused), everything is recomputed in float64 from
the original's code, anonymous184/CaLeG@096caad, with its file and line, never from values the port prints. The
pretraining and the warm-up are driven through the port's trainer (``Trainer._pretrain``, ``Trainer._epoch``, what
a run executes, learning-rate update and batch selection included) with its session wrapped so that the graph's
random draws are the test's; phase 2 through ``CaLeGGraph.phase2_step``, with the gradient penalty's permutations
fed as well. Tiny sizes: 6x6 images, 2-layer E and D (2, 4 channels), a 2-layer G, zdim 3, 4 classes. The main graph
is built from the CIFAR-10 config (3 channels, kernel 5, lambda 1, ``manual_smooth``) at r = 2; the no-aug one from
MNIST's (kernel 4, lambda 10).
"""
import copy
from types import SimpleNamespace

import numpy as np
import pytest
from shared_data import records
from shared_data.testing import npgrad as ng

import test_reference_step as ref
from caleg import gaussians, ops
from caleg.graph import CaLeGGraph
from caleg.tfcompat import tf
from caleg.train import Trainer, legacy_numpy_rng
from configs import get_config

# -- the original's constants (anonymous184/CaLeG@096caad) ------------------------------------------------------
LR, BETA1, BETA2 = ref.LR, ref.BETA1, ref.BETA2  # configs.py L8, L15 (CIFAR-10), L52-53 (MNIST); TF Adam defaults
CIFAR_LAMBDA = 1.0  # configs.py L35
MNIST_LAMBDA = 10.0  # configs.py L78
CIFAR_EPOCHS, SVHN_EPOCHS, MNIST_EPOCHS = 50, 80, 50  # configs.py L6, L44, L56
PRETRAIN_STEPS, PRETRAIN_STOP = 200, 0.1  # caleg.py L229 (steps_max), L243 (break once the loss is below 0.1)
GP_HALF = ref.GP_HALF  # caleg.py L59; caleg_noaug.py L56: GP(x, x_rec) alone, weight 1

# -- tiny sizes -----------------------------------------------------------------------------------------------
H, W, ZDIM, B = ref.H, ref.W, ref.ZDIM, ref.B
CH = 3  # CIFAR-10's image channels
COUNTS = [8, 5, 3, 2]  # 18 images: three full batches of 6
NCLS = len(COUNTS)
RATE = 2.0  # ceil(6 r) = 12 generated codes, (0, 3, 4, 5) per class
EPOCH = 5  # the warm-up epoch driven through the trainer (CIFAR-10 schedule: lr 5e-4 * 100^(-6/50))
PRE_SIZE = 8  # e_pretrain_sample_size (< 18 images: a real choice without replacement)
PRE_STEPS = 2
SEED = 0


def f32(a):
    return np.asarray(a, np.float32).astype(np.float64)


def tiny(dataset, rate, channels, **kw):
    return get_config(dataset, "full", aug_rate=rate, image_shape=[H, W, channels], num_classes=NCLS,
                      e_num_layers=ref.E_LAYERS, e_num_filters=ref.E_FILTERS, g_num_layers=ref.G_LAYERS,
                      g_num_filters=ref.G_FILTERS, zdim=ZDIM, batch_size=B, **kw)


class FeedingSession:
    """The trainer's session, with the test's draws fed in place of the graph's own in every run."""

    def __init__(self, sess):
        self.sess, self.draws = sess, {}

    def run(self, fetches, feed_dict=None):
        return self.sess.run(fetches, {**(feed_dict or {}), **self.draws})


def draw_tensor(g, prefix):
    found = [t for t in g.graph.get_collection(ops.RANDOM_DRAWS) if t.name.startswith(prefix + "/")]
    assert len(found) == 1, prefix
    return found[0]


def random_weights(variables, rng):
    """Fixed weights away from the original's tiny initialisation (as in ``test_reference_step.py``)."""
    p = {}
    for name, v in variables.items():
        if name.split("/")[0] not in ("encoder", "generator", "discriminator") or "Adam" in name:
            continue
        shape = v.shape.as_list()
        val = rng.uniform(0.5, 1.5, shape) if name.endswith(("gamma", "moving_variance")) \
            else rng.normal(0, 0.3, shape)
        p[name] = ng.V(f32(val))
    return p


def mid_training_adam(rng, p, grad_rms):
    """The one shared Adam in mid-training: powers after 500 applies, moments on the scale of each variable's
    gradient (so that an update is close to linear in the gradient, not its sign)."""
    state = {"b1": f32(BETA1 ** 500), "b2": f32(BETA2 ** 500), "m": {}, "v": {}}
    for k in p:
        if "moving" in k:
            continue
        s = max(grad_rms.get(k, 0.0), 1e-2)  # a conv bias before a batch norm has a gradient of ~0
        state["m"][k] = f32(rng.uniform(-1, 1, p[k].shape) * s)
        state["v"][k] = f32((rng.uniform(0.5, 1.5, p[k].shape) * s) ** 2)
    return state


def load(variables, values, sess):
    """Set variables by running their initialisers on fed values: one execution, no op added to the graph."""
    inits = [variables[k].initializer for k in values]
    sess.run(inits, {op.inputs[1]: np.asarray(values[k], np.float32) for k, op in zip(values, inits)})


def adam_values(variables, state, suffix="Adam", powers=("beta1_power", "beta2_power")):
    """The optimiser's powers and the slots it has (a variable outside every var_list of the instance has none)."""
    values = {powers[0]: state["b1"], powers[1]: state["b2"]}
    values.update({f"{k}/{suffix}": m for k, m in state["m"].items()})
    values.update({f"{k}/{suffix}_1": v for k, v in state["v"].items()})
    return {k: v for k, v in values.items() if k in variables}


def moving_averages(before, stats, scopes):
    """m <- m - (1 - decay) (m - batch moment), once per training-mode call, in call order."""
    out = {}
    for scope in scopes:
        mean, var = before[scope + "/moving_mean"], before[scope + "/moving_variance"]
        for bm, bv in stats[scope]:
            mean, var = mean - (1 - ref.BN_DECAY) * (mean - bm), var - (1 - ref.BN_DECAY) * (var - bv)
        out[scope + "/moving_mean"], out[scope + "/moving_variance"] = mean, var
    return out


def assert_updates(got, ref_p, before, names):
    bad = []
    for name in names:
        ok = ref.close_to_update(got[name], ref_p[name].v, before[name])
        if not ok.all():
            i = np.argmax(~ok.ravel())
            bad.append(f"{name}: got {got[name].ravel()[i]!r} reference {ref_p[name].v.ravel()[i]!r} (before "
                       f"{before[name].ravel()[i]!r}), {int((~ok).sum())} of {ok.size} off")
    assert names and not bad, "\n".join(bad)


# -- references of the original's formulas ------------------------------------------------------------------------
def reference_lr(schedule, epoch_num, epoch):
    """caleg.py L282-286: ``decay`` starts at 1 and ``adjust_decay`` (L246-264) runs at the start of every epoch,
    epoch 0 included; 'manual_smooth' divides it by exp(log(100) / epoch_num) each time, 'none' leaves it. The
    shared optimiser runs at lr * decay (L91, L199-201)."""
    decay = 1.0
    for _ in range(epoch + 1):
        if schedule == "manual_smooth":
            decay = decay / np.exp(np.log(100.0) / epoch_num)
        else:
            assert schedule == "none"
    return LR * decay


def pretrain_loss(qz, pz):
    """caleg.py L113-124: mean over dims of (mean_pz - mean_qz)^2 plus mean over the zdim x zdim entries of
    (Cov_pz - Cov_qz)^2, each covariance divided by its own n - 1."""
    mean_pz = pz.mean(0, keepdims=True)
    mean_qz = ng.mean(qz, axis=0, keepdims=True)
    mean_loss = ng.mean(ng.square(ng.const(mean_pz) - mean_qz))
    cov_pz = (pz - mean_pz).T @ (pz - mean_pz) / (pz.shape[0] - 1.0)
    dq = qz - mean_qz
    cov_qz = (ng.transpose(dq) @ dq) / (qz.shape[0] - 1.0)
    return mean_loss + ng.mean(ng.square(ng.const(cov_pz) - cov_qz))


def warmup_objective(p, x, y, d, lam, stats):
    """caleg.py L82 (total_loss): reconstruction (L187-190) + lambda MMD (L130-159) + CE summed over the batch
    (L126-128), on E(x) with the encoder's input noise, all in training mode."""
    x = ng.const(x)
    z = ref.encoder(p, x, d["e_noise"], stats)
    x_rec, logits = ref.decoder(p, z, stats)
    rec = ref.REC_WEIGHT * ng.mean(ng.sum_(ng.square(x - x_rec), axis=(1, 2, 3)))
    mmd = ref.mmd_imq(z, ng.const(d["pz"]))
    ce_sum = ng.sum_(ref.ce(logits, y))
    total = rec + lam * mmd + ce_sum
    return total, dict(rec=rec.v, mmd=mmd.v, ce=ce_sum.v, enc=total.v, train_acc=np.mean(logits.v.argmax(1) == y))


def real_rows(x, perm, gpu_gather):
    """The real batch paired in a gradient penalty: r > 1, ``tf.gather(real, random_shuffle(range(len(other))))``
    (caleg.py L163-166), rows >= len(real) zero as TF's gather returns them on GPU; r < 1 (no-aug included),
    ``tf.gather(real, random_shuffle(range(len(real)))[:len(other)])`` (caleg_noaug.py L156-161)."""
    if gpu_gather:
        return np.where((perm < len(x))[:, None, None, None], x[np.minimum(perm, len(x) - 1)], 0.0)
    return x[perm]


def reference_phase2(p, state, x, y, y_gen, z_gen, draws, perms, lam, lr, aug, grad_rms=None):
    """One phase-2 iteration: encoder, decoder, discriminator executions, each with its own forward pass
    (caleg.py L306-329; caleg_noaug.py L298-319 for r <= 0)."""
    names = {s: [k for k in p if k.startswith(s + "/") and "moving" not in k]
             for s in ("encoder", "generator", "discriminator")}
    out = {}

    def step(var_names, objective):
        grads = ng.grad(objective, [p[k] for k in var_names])
        if grad_rms is not None:
            grad_rms.update({k: float(np.sqrt(np.mean(gk.v ** 2))) for k, gk in zip(var_names, grads)})
        ref.adam(p, state, var_names, grads, lr)

    xc = ng.const(x)
    # encoder execution: rec + lambda MMD + summed CE, encoder variables only (caleg.py L77, L92; noaug L68, L82)
    enc_obj, vals = warmup_objective(p, x, y, draws["enc"], lam, {})
    out.update(vals)
    step(names["encoder"], enc_obj)
    # decoder execution (caleg.py L78 with L56; caleg_noaug.py L69 with L54); C gets no gradient
    d, stats = draws["dec"], {}
    z = ref.encoder(p, xc, d["e_noise"], stats)
    x_rec, _ = ref.decoder(p, z, stats)
    lg_rec, w_rec = ref.discriminator(p, x_rec, d["d_noise_rec"], stats)
    rec = ref.REC_WEIGHT * ng.mean(ng.sum_(ng.square(xc - x_rec), axis=(1, 2, 3)))
    if aug:
        x_gen, _ = ref.decoder(p, ng.const(z_gen), stats)
        lg_gen, w_gen = ref.discriminator(p, x_gen, d["d_noise_gen"], stats)
        dec_obj = rec + ng.mean(ref.ce(lg_gen, y_gen)) + ng.mean(ref.ce(lg_rec, y)) - (ng.mean(w_rec) + ng.mean(w_gen))
    else:
        dec_obj = rec + ng.mean(ref.ce(lg_rec, y)) - ng.mean(w_rec)
    out["dec"] = dec_obj.v
    step([k for k in names["generator"] if not k.startswith("generator/classifier/")], dec_obj)
    # discriminator execution (caleg.py L79-80 with L54-59; caleg_noaug.py L70 with L53-56)
    d, stats = draws["disc"], {}
    z = ref.encoder(p, xc, d["e_noise"], stats)
    x_rec, _ = ref.decoder(p, z, stats)
    lg_x, w_x = ref.discriminator(p, xc, d["d_noise_x"], stats)
    lg_rec, w_rec = ref.discriminator(p, x_rec, d["d_noise_rec"], stats)
    gp_rec = ref.gradient_penalty(p, ng.const(real_rows(x, perms["rec"], aug)), x_rec, d["alpha_rec"],
                                  d["d_noise_gp_rec"], stats)
    ce_d = ng.mean(ref.ce(lg_x, y)) + ng.mean(ref.ce(lg_rec, y))
    if aug:
        x_gen, _ = ref.decoder(p, ng.const(z_gen), stats)
        lg_gen, w_gen = ref.discriminator(p, x_gen, d["d_noise_gen"], stats)
        gp_gen = ref.gradient_penalty(p, ng.const(real_rows(x, perms["gen"], True)), x_gen, d["alpha_gen"],
                                      d["d_noise_gp_gen"], stats)
        critic = ng.mean(w_rec) + ng.mean(w_gen) - 2.0 * ng.mean(w_x)
        gp = GP_HALF * (gp_rec + gp_gen)
        disc_obj = ce_d + ng.mean(ref.ce(lg_gen, y_gen)) + critic + gp
        out.update(gp_rec=gp_rec.v, gp_gen=gp_gen.v, accepted=lg_gen.v.argmax(1) == y_gen)
    else:
        critic = ng.mean(w_rec) - ng.mean(w_x)
        gp = gp_rec
        disc_obj = ce_d + critic + gp
    out.update(disc=disc_obj.v, critic=critic.v, gp=gp.v)
    step(names["discriminator"], disc_obj)
    return out


# -- the graph shared by the pretraining, warm-up and r = 2 checks --------------------------------------------
@pytest.fixture(scope="module")
def model(tmp_path_factory):
    rng = np.random.RandomState(1)
    y = rng.permutation(np.repeat(np.arange(NCLS), COUNTS)).astype(np.int64)
    x = rng.randint(0, 256, (len(y), H, W, CH)).astype(np.uint8)
    y_test = np.tile(np.arange(NCLS), 2)
    x_test = rng.randint(0, 256, (len(y_test), H, W, CH)).astype(np.uint8)
    split = SimpleNamespace(dataset="cifar10", x_train=x, y_train=y, x_test=x_test, y_test=y_test,
                            train_counts=list(COUNTS), split_seed=3)
    cfg = tiny("cifar10", RATE, CH, refit_every=1000, steps_per_epoch=1, e_pretrain_steps=PRE_STEPS,
               e_pretrain_sample_size=PRE_SIZE)
    trainer = Trainer(cfg, split, records.RunDir(tmp_path_factory.mktemp("caleg_run")), seed=SEED, progress=False)
    g = CaLeGGraph(cfg, x, y, seed=SEED)
    sess = tf.Session(graph=g.graph)
    with g.graph.as_default():
        sess.run(g.init)
        sess.run(g.local_init, {g.x_train_ph: x, g.y_train_ph: y.astype(np.int32)})
        variables = {v.op.name: v for v in tf.global_variables()}
    trainer.g, trainer.sess, trainer.fit = g, FeedingSession(sess), None
    trainer.rng = legacy_numpy_rng(split.split_seed, len(y))
    yield SimpleNamespace(cfg=cfg, trainer=trainer, g=g, sess=sess, variables=variables, x=x, y=y)
    sess.close()


def snapshot(m, names=None):
    return m.sess.run({k: v for k, v in m.variables.items() if names is None or k in names})


# -- (b) encoder pretraining ------------------------------------------------------------------------------------
# A conv bias followed by a batch norm has a gradient of exactly zero (the norm removes it); in float32 it is rounding
# noise, and the first steps of a fresh Adam (m / sqrt(v) = sign(g)) move it by up to lr either way, here and in
# the original alike. Those two biases are bounded, not compared element by element.
BN_BIASES = [f"encoder/h{i}_conv/b" for i in range(ref.E_LAYERS)]


@pytest.fixture(scope="module")
def pretrain(model):
    m, rng = model, np.random.RandomState(2)
    p = random_weights(m.variables, rng)
    pre_vars = {v.op.name for v in m.g.pretrain_variables}
    powers = tuple(sorted(k for k in pre_vars if "power" in k))
    enc = [k for k in p if k.startswith("encoder/") and "moving" not in k]
    fresh = {"b1": BETA1, "b2": BETA2, "m": {k: np.zeros(p[k].shape) for k in enc},
             "v": {k: np.zeros(p[k].shape) for k in enc}}  # a separate Adam instance, as initialised (L96-97)
    load(m.variables, {**{k: t.v for k, t in p.items()}, **adam_values(m.variables, fresh, "AdamPretrain", powers)},
         m.sess)
    before = snapshot(m)
    noise = ref.truncated_normal(rng, (PRE_SIZE, H, W, CH)).astype(np.float32)
    m.trainer.sess.draws = {draw_tensor(m.g, "encoder_1"): noise}  # the pretraining encoder's input noise
    numpy_rng = copy.deepcopy(m.trainer.rng)
    m.trainer._pretrain()
    m.trainer.sess.draws = {}
    got = snapshot(m)
    # reference: caleg.py L227-244, each step on its own draws from the global numpy stream, training mode
    ref_p, state, stats, losses = dict(p), copy.deepcopy(fresh), {}, []
    n = len(m.y)
    for _ in range(PRE_STEPS):
        ids = numpy_rng.choice(n, min(n, PRE_SIZE), replace=False)  # L233-234
        pz = f32(numpy_rng.multivariate_normal(np.zeros(ZDIM), np.eye(ZDIM), PRE_SIZE))  # L236 (sample_pz L212-215)
        qz = ref.encoder(ref_p, ng.const(m.x[ids].astype(np.float64) / 255.0), noise.astype(np.float64), stats)
        loss = pretrain_loss(qz, pz)
        losses.append(float(loss.v))
        ref.adam(ref_p, state, enc, ng.grad(loss, [ref_p[k] for k in enc]), LR)  # lr 5e-4, no decay (L96)
    return dict(got=got, before=before, ref_p=ref_p, state=state, stats=stats, losses=losses, enc=enc,
                moving=[k for k in p if k.startswith("encoder/") and "moving" in k], pre_vars=pre_vars, powers=powers,
                log=m.trainer.pretrain_log)


def test_reference_pretraining_loss_and_encoder_update(pretrain):
    assert pretrain["losses"][-1] > PRETRAIN_STOP  # so both steps run
    assert pretrain["log"]["pretrain_steps"] == PRE_STEPS
    assert pretrain["log"]["pretrain_loss"] == pytest.approx(pretrain["losses"][-1], rel=1e-5, abs=1e-7)
    compared = [k for k in pretrain["enc"] if k not in BN_BIASES]
    assert_updates(pretrain["got"], pretrain["ref_p"], pretrain["before"], compared)
    for k in BN_BIASES:  # no gradient but float noise, which a fresh Adam turns into steps of up to lr
        assert np.abs(pretrain["got"][k] - pretrain["before"][k]).max() <= PRE_STEPS * LR * 1.001
    # training mode: one in-place moving-average update of E's batch norms per step (L240, is_training True)
    scopes = [f"encoder/h{i}_bn" for i in range(ref.E_LAYERS)]
    for k, want in moving_averages(pretrain["before"], pretrain["stats"], scopes).items():
        # the second step's batch mean includes the first step's noise move of the conv bias (at most lr)
        atol = (1 - ref.BN_DECAY) * LR * 1.01 if k.endswith("moving_mean") else 1e-6
        np.testing.assert_allclose(pretrain["got"][k], want, rtol=1e-5, atol=atol, err_msg=k)


def test_reference_pretraining_has_its_own_adam_and_touches_only_the_encoder(pretrain):
    got, before, state = pretrain["got"], pretrain["before"], pretrain["state"]
    b1, b2 = pretrain["powers"]
    np.testing.assert_allclose(got[b1], BETA1 ** (PRE_STEPS + 1), rtol=1e-6)
    np.testing.assert_allclose(got[b2], BETA2 ** (PRE_STEPS + 1), rtol=1e-6)
    for k in (k for k in pretrain["enc"] if k not in BN_BIASES):
        np.testing.assert_allclose(got[k + "/AdamPretrain"], state["m"][k], rtol=2e-4,
                                   atol=3e-3 * np.abs(state["m"][k]).max(), err_msg=k)
        np.testing.assert_allclose(got[k + "/AdamPretrain_1"], state["v"][k], rtol=2e-4,
                                   atol=3e-3 * np.abs(state["v"][k]).max(), err_msg=k)
    trained = set(pretrain["enc"]) | set(pretrain["moving"]) | set(pretrain["pre_vars"])
    untouched = [k for k in got if k not in trained]  # the shared Adam (its encoder slots too), G, C, D
    assert {"beta1_power", "encoder/hfinal_lin/W/Adam", "generator/classifier/lin/W"} <= set(untouched)
    for k in untouched:
        np.testing.assert_array_equal(got[k], before[k], err_msg=k)


def test_pretraining_stops_once_the_loss_is_below_the_threshold(model):
    m = model
    saved = m.trainer.cfg
    m.trainer.cfg = dict(saved, e_pretrain_steps=3, e_pretrain_stop_loss=np.inf)
    try:
        m.trainer._pretrain()
    finally:
        m.trainer.cfg = saved
    assert m.trainer.pretrain_log["pretrain_steps"] == 1  # caleg.py L243-244: checked after every step


# -- (a) the joint-autoencoder warm-up and (c) the schedule, through the trainer's epoch ---------------------------
@pytest.fixture(scope="module")
def warmup(model):
    m, rng = model, np.random.RandomState(3)
    p = random_weights(m.variables, rng)
    n_batches = len(m.y) // B
    b = EPOCH % n_batches  # one step per epoch (steps_per_epoch 1): the fixed order's slices, continued cyclically
    idx = np.arange(b * B, (b + 1) * B)
    x, y = m.x[idx].astype(np.float64) / 255.0, m.y[idx]
    d = {"e_noise": f32(ref.truncated_normal(rng, (B, H, W, CH))), "pz": f32(rng.normal(size=(B, ZDIM)))}
    lr = reference_lr("manual_smooth", CIFAR_EPOCHS, EPOCH)
    names = [k for k in p if k.startswith(("encoder/", "generator/")) and "moving" not in k]
    total, _ = warmup_objective(p, x, y, d, CIFAR_LAMBDA, {})
    rms = {k: float(np.sqrt(np.mean(gk.v ** 2))) for k, gk in zip(names, ng.grad(total, [p[k] for k in names]))}
    state = mid_training_adam(rng, p, rms)
    load(m.variables, {**{k: t.v for k, t in p.items()}, **adam_values(m.variables, state)}, m.sess)
    before = snapshot(m)
    m.trainer.sess.draws = {draw_tensor(m.g, "encoder"): d["e_noise"].astype(np.float32),
                            draw_tensor(m.g, "stateless_random_normal_1"): d["pz"].astype(np.float32)}
    m.trainer._epoch(EPOCH)
    m.trainer.sess.draws = {}
    got = snapshot(m)
    record = [r for r in m.trainer.run.read_metrics() if r.get("kind") == "train" and r["epoch"] == EPOCH][-1]
    # reference: caleg.py L300-303, one ae_opt step (L95: encoder + generator variables, C included)
    ref_p, ref_state, stats = dict(p), copy.deepcopy(state), {}
    total, out = warmup_objective(ref_p, x, y, d, CIFAR_LAMBDA, stats)
    ref.adam(ref_p, ref_state, names, ng.grad(total, [ref_p[k] for k in names]), lr)
    return dict(got=got, before=before, ref_p=ref_p, state=ref_state, stats=stats, out=out, record=record, lr=lr,
                names=names, graph_lr=m.sess.run(m.g.lr))


def test_reference_warmup_losses(warmup):
    rec, out = warmup["record"], warmup["out"]
    assert rec["phase"] == 1 and rec["steps"] == 1
    for k in ("rec", "ce", "enc"):
        np.testing.assert_allclose(rec[f"loss_{k}"], out[k], rtol=1e-5, atol=1e-6, err_msg=k)
    np.testing.assert_allclose(rec["loss_mmd"], out["mmd"], rtol=1e-4, atol=2e-6)
    assert rec["train_acc"] == pytest.approx(out["train_acc"])


def test_reference_warmup_updates_encoder_decoder_and_classifier(warmup):
    got, before = warmup["got"], warmup["before"]
    cls = [k for k in warmup["names"] if k.startswith("generator/classifier/")]
    assert cls and all(not np.array_equal(got[k], before[k]) for k in cls)  # the warm-up trains C
    assert_updates(got, warmup["ref_p"], before, warmup["names"])
    for k in got:
        if k.startswith("discriminator/"):
            np.testing.assert_array_equal(got[k], before[k], err_msg=k)


def test_reference_warmup_adam_and_batch_norm(warmup):
    got, state = warmup["got"], warmup["state"]
    np.testing.assert_allclose(got["beta1_power"], state["b1"], rtol=1e-6)  # one apply
    np.testing.assert_allclose(got["beta2_power"], state["b2"], rtol=1e-6)
    missing = [k for k in warmup["names"] if k + "/Adam" not in got]
    assert not missing, f"the shared Adam has no slot for {missing} (caleg.py L95: encoder + generator variables)"
    for k in warmup["names"]:
        np.testing.assert_allclose(got[k + "/Adam"], state["m"][k], rtol=2e-4, atol=3e-3 * np.abs(state["m"][k]).max(),
                                   err_msg=k)
        np.testing.assert_allclose(got[k + "/Adam_1"], state["v"][k], rtol=2e-4,
                                   atol=3e-3 * np.abs(state["v"][k]).max(), err_msg=k)
    # E and G each run once, in training mode: one moving-average update each
    scopes = [f"encoder/h{i}_bn" for i in range(ref.E_LAYERS)] + [f"generator/h{i}_bn" for i in range(1, ref.G_LAYERS)]
    for k, want in moving_averages(warmup["before"], warmup["stats"], scopes).items():
        np.testing.assert_allclose(got[k], want, rtol=1e-5, atol=1e-6, err_msg=k)


def test_reference_warmup_runs_at_the_scheduled_learning_rate(warmup):
    assert warmup["record"]["lr"] == pytest.approx(warmup["lr"], rel=1e-9)
    assert warmup["graph_lr"] == pytest.approx(warmup["lr"], rel=1e-6)  # what the Adam step read


@pytest.mark.parametrize("dataset, schedule, epoch_num", [("cifar10", "manual_smooth", CIFAR_EPOCHS),
                                                          ("svhn", "manual_smooth", SVHN_EPOCHS),
                                                          ("mnist", "none", MNIST_EPOCHS),
                                                          ("fashion", "none", MNIST_EPOCHS)])
def test_reference_learning_rate_schedule(dataset, schedule, epoch_num):
    cfg = get_config(dataset, "full", aug_rate=0.0)
    y = np.repeat(np.arange(10), 10)
    split = SimpleNamespace(x_train=np.zeros((len(y), 2, 2, 1), np.uint8), y_train=y,
                            x_test=np.zeros((2, 2, 2, 1), np.uint8), y_test=np.arange(2))
    t = Trainer(cfg, split, run=None, seed=0, progress=False)
    assert cfg["epochs"] == epoch_num
    got = [t.lr_at(e) for e in range(epoch_num)]
    want = [reference_lr(schedule, epoch_num, e) for e in range(epoch_num)]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    if schedule == "manual_smooth":
        assert got[-1] == pytest.approx(LR / 100.0, rel=1e-12)  # 5e-6 in the last epoch


# -- (d) the gradient penalty at r = 2 and without augmentation: one phase-2 iteration ---------------------------
DRAWS = ref.DRAW_ORDER  # eps_gen, e_noise, pz, d_noise_x, d_noise_rec, alpha_rec, d_noise_gp_rec, d_noise_gen, ...


def run_phase2(g, sess, variables, cfg, x_data, y_data, rng, lam, lr):
    aug = cfg["aug_rate"] > 0
    channels = cfg["image_shape"][2]
    counts = np.bincount(y_data, minlength=NCLS).tolist()
    y_gen = gaussians.generation_labels(gaussians.generation_counts(B, cfg["aug_rate"],
                                                                    gaussians.class_weights(counts))) if aug \
        else np.zeros(0, np.int32)
    b_gen = len(y_gen)
    p = random_weights(variables, rng)
    means = rng.normal(size=(NCLS, ZDIM)).astype(np.float32)
    factors = (rng.normal(size=(NCLS, ZDIM, ZDIM)) * 0.5).astype(np.float32)
    sess.run(g.set_gauss, {g.g_mean_ph: means, g.g_factor_ph: factors})
    sess.run(g.set_lr, {g.lr_ph: lr})
    draws = ref.make_draws(rng, b_gen, aug, channels)
    # the gradient penalties' random shuffles (the argsort of uniform draws, ops.random_permutation), GP(x, x_rec)
    # first: r = 2 shuffles range(len(other)) (12 > 6 for G(z_gen)), r <= 0 shuffles the real batch
    perm_tensors = [op.outputs[1] for op in g.graph.get_operations() if op.type == "TopKV2"]
    assert [t.op.name for t in perm_tensors] == (["argsort/TopKV2", "argsort_1/TopKV2"] if aug
                                                 else ["argsort/TopKV2"])
    perms = {"rec": rng.permutation(B)}
    if aug:
        perms["gen"] = rng.permutation(b_gen)
    idx = np.array([0, 1, 3, 4, 6, 9], np.int32)
    x, y = x_data[idx].astype(np.float64) / 255.0, y_data[idx]
    z_gen = means[y_gen].astype(np.float64) + np.einsum("ni,nij->nj", draws["enc"]["eps_gen"],
                                                        factors[y_gen].astype(np.float64)) if aug else None
    rms = {}
    reference_phase2(copy.deepcopy(p), mid_training_adam(rng, p, {}), x, y, y_gen, z_gen, draws, perms, lam, lr,
                     aug, grad_rms=rms)
    state = mid_training_adam(rng, p, rms)
    load(variables, {**{k: t.v for k, t in p.items()}, **adam_values(variables, state)}, sess)
    before = {k: t.v.copy() for k, t in p.items()}
    tensors = g.graph.get_collection(ops.RANDOM_DRAWS)
    scopes = ["stateless_random_normal", "encoder", "stateless_random_normal_1", "discriminator", "discriminator_1",
              "stateless_random_uniform_1", "discriminator_2"]  # eps_gen ... d_noise_gp_rec, as DRAWS names them
    scopes += ["discriminator_3", "stateless_random_uniform_3", "discriminator_4"] if aug else []
    assert [t.name.split("/")[0] for t in tensors[:len(scopes)]] == scopes
    feeds = {}
    for part, d in draws.items():
        feeds[part] = {t: d[name].astype(np.float32) for t, name in zip(tensors, DRAWS) if name in d}
        feeds[part].update({perm_tensors[0]: perms["rec"].astype(np.int32)})
        if aug:
            feeds[part][perm_tensors[1]] = perms["gen"].astype(np.int32)
    seeds = {part: np.array([0, i], np.int64) for i, part in enumerate(("enc", "dec", "disc"))}
    out = g.phase2_step(sess, idx, y_gen, seeds, feeds)
    got = sess.run({k: variables[k] for k in p})
    got_powers = sess.run({k: variables[k] for k in ("beta1_power", "beta2_power")})
    ref_p, ref_state = dict(p), copy.deepcopy(state)
    want = reference_phase2(ref_p, ref_state, x, y, y_gen, z_gen, draws, perms, lam, lr, aug)
    return dict(out=out, want=want, got=got, before=before, ref_p=ref_p, state=ref_state, powers=got_powers,
                b_gen=b_gen, perms=perms, z_gen=z_gen)


@pytest.fixture(scope="module")
def phase2_r2(model):
    m = model
    return run_phase2(m.g, m.sess, m.variables, m.cfg, m.x, m.y, np.random.RandomState(4), CIFAR_LAMBDA,
                      reference_lr("manual_smooth", CIFAR_EPOCHS, 20))


@pytest.fixture(scope="module")
def phase2_noaug():
    cfg = tiny("mnist", 0.0, 1)
    rng = np.random.RandomState(5)
    y = rng.permutation(np.repeat(np.arange(NCLS), COUNTS)).astype(np.int64)
    x = rng.randint(0, 256, (len(y), H, W, 1)).astype(np.uint8)
    g = CaLeGGraph(cfg, x, y, seed=SEED)
    with tf.Session(graph=g.graph) as sess, g.graph.as_default():
        sess.run(g.init)
        sess.run(g.local_init, {g.x_train_ph: x, g.y_train_ph: y.astype(np.int32)})
        variables = {v.op.name: v for v in tf.global_variables()}
        return run_phase2(g, sess, variables, cfg, x, y, rng, MNIST_LAMBDA, LR)


def check_phase2(r):
    out, want = r["out"], r["want"]
    for k in ("rec", "ce", "enc", "dec", "disc", "critic", "gp"):
        np.testing.assert_allclose(out[k], want[k], rtol=1e-5, atol=1e-6, err_msg=k)
    np.testing.assert_allclose(out["mmd"], want["mmd"], rtol=1e-4, atol=2e-6)
    names = [k for k in r["ref_p"] if "moving" not in k and not k.startswith("generator/classifier/")]
    assert_updates(r["got"], r["ref_p"], r["before"], names)
    for k in ("generator/classifier/lin/W", "generator/classifier/lin/b"):  # frozen in phase 2 (caleg.py L92-93)
        np.testing.assert_array_equal(r["got"][k], r["before"][k])
    np.testing.assert_allclose(r["powers"]["beta1_power"], r["state"]["b1"], rtol=1e-6)
    np.testing.assert_allclose(r["powers"]["beta2_power"], r["state"]["b2"], rtol=1e-6)


def test_reference_phase2_at_r2_gradient_penalty(phase2_r2):
    r = phase2_r2
    assert r["b_gen"] == 12  # ceil(6 * 2) codes, (0, 3, 4, 5) per class
    assert (r["perms"]["gen"] >= B).sum() == 6  # half of GP(x, G(z_gen))'s interpolates start from a black image
    assert r["want"]["gp_gen"] != pytest.approx(r["want"]["gp_rec"])
    np.testing.assert_allclose(r["out"]["z_gen"], r["z_gen"], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(r["out"]["accepted"], r["want"]["accepted"])
    check_phase2(r)


def test_reference_phase2_without_augmentation(phase2_noaug):
    r = phase2_noaug
    assert "accepted" not in r["out"] and "z_gen" not in r["out"]
    check_phase2(r)


# -- (e) the CIFAR-10 / SVHN constants ----------------------------------------------------------------------------
CIFAR10_ORIGINAL = {  # configs.py L3-39 (config_cifar10); config_SVHN is a deep copy with 80 epochs (L41-44)
    "num_classes": 10,  # L4
    "epoch_num": CIFAR_EPOCHS,  # L6
    "zdim": 64,  # L7
    "lr": 5e-4,  # L8
    "save_every_epoch": 10,  # L12
    "beta1": 0.5,  # L15 (optimizer 'adam', L14)
    "lr_schedule": "manual_smooth",  # L16
    "batch_size": 50,  # L17
    "init_std": 0.0099999,  # L18
    "conv_filters_dim": 5,  # L23
    "e_pretrain": True,  # L24
    "e_pretrain_sample_size": 256,  # L25
    "noise_std": 0.01,  # e_noise 'add_noise' (L26): models.py L7-9, truncated_normal(shape, 0.0, 0.01)
    "e_num_filters": 1024,  # L27
    "e_num_layers": 4,  # L28
    "g_num_filters": 1024,  # L29
    "g_num_layers": 4,  # L30
    "d_num_layers": 4,  # L31
    "d_num_filters": 1024,  # L32
    "rec_weight": 0.05,  # cost 'l2sq' (L34): caleg.py L187-190
    "mmd_lambda": CIFAR_LAMBDA,  # L35
    "image_shape": [32, 32, 3],  # datahandler.py L7 (datashapes)
    "e_pretrain_steps": PRETRAIN_STEPS,  # caleg.py L229
    "e_pretrain_stop_loss": PRETRAIN_STOP,  # caleg.py L243
    "gp_weight": 1.0,  # caleg.py L79-80 (0.5 inside the penalty, L59)
    "refit_every": 5,  # caleg.py L292: (epoch + 1) % 5 == 0
}


@pytest.mark.parametrize("dataset, epochs", [("cifar10", CIFAR_EPOCHS), ("svhn", SVHN_EPOCHS)])
def test_cifar10_and_svhn_constants_are_the_originals(dataset, epochs):
    cfg = get_config(dataset, "full")
    want = dict(CIFAR10_ORIGINAL, epoch_num=epochs, dataset=dataset)
    assert {k: cfg[k] for k in want} == want
    assert cfg["epochs"] == epochs
    assert (ops.BN_EPS, ops.BN_DECAY) == (1e-5, 0.9)  # configs.py L21-22
    # Fashion-MNIST is a deep copy of MNIST (configs.py L86-88); lambda 10 there (L78)
    fashion, mnist = get_config("fashion", "full"), get_config("mnist", "full")
    assert {k: v for k, v in fashion.items() if k != "dataset"} == {k: v for k, v in mnist.items() if k != "dataset"}
    assert mnist["mmd_lambda"] == MNIST_LAMBDA and mnist["e_pretrain_sample_size"] == 1000  # L65
