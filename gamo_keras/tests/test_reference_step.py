"""An independent plain-NumPy reference of GAMO's training iterations, against the port's real training path.

The reference below is written from the released code (SankhaSubhra/GAMO at 165d634, the MNIST pixel-space
variant ``dense_gamo_main.py`` / ``dense_net.py`` / ``dense_suppli.py``) and from the standalone Keras 2.2 /
TensorFlow 1 library it ran on. It shares nothing with the port but the random stream (the port's documented
per-iteration generator) and the data arrays: forward passes, losses, gradients (by hand, checked here by finite
differences), Adam, BatchNorm and the order of the updates are all written out again in float64. Every constant
is the original's value, written here with its source, never read from the port's configuration, so a changed
default fails.

The port runs its own code path: ``Trainer.run_segment`` (the compiled chunk function ``run.py`` uses) on
networks set to the reference's weights, three iterations on a tiny problem (the third is a pass's short last
batch), compared after each iteration: the 8 losses, every weight, BatchNorm statistic (including the per
composite debiasing variables), Adam moment and the shared counter.
"""
from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from conftest import load_config
from gamo import backend
from gamo import data as gd
from gamo.train import Trainer

# -- the original's constants (file and line at 165d634, or the Keras 2.2 default they rely on) ----------------
LR, BETA_1 = 0.0002, 0.5  # dense_gamo_main.py L24: Adam(0.0002, 0.5)
BETA_2 = 0.999  # Keras 2.2 Adam's default beta_2 (not passed at dense_gamo_main.py L24)
ADAM_EPS = 1e-7  # Keras 2.2 Adam: epsilon=None -> K.epsilon() = 1e-7
BN_MOMENTUM = 0.9  # dense_net.py L17, L20: BatchNormalization(momentum=0.9)
BN_EPS = 1e-3  # Keras 2.2 BatchNormalization's default epsilon
LEAKY = 0.1  # dense_net.py L42, L45, L58, L61: LeakyReLU(alpha=0.1)
REAL_SMOOTH = 0.1  # dense_gamo_main.py L105: validR = 1 - U(0, 0.1)
FAKE_SMOOTH = 0.1  # dense_gamo_main.py L109: invalid = U(0, 0.1)
G_VS_D_TARGET = 1.0  # dense_gamo_main.py L124: validA = ones (no smoothing)

# -- tiny sizes (sizes only; every constant above stays the original's) -------------------------------------
COUNTS = (10, 5, 3)  # 3 classes; relabelled ascending: new 0 (3 images) and new 1 (5) are the minority classes
SHAPE = (2, 3, 1)  # 6 "pixels"
LATENT, CTMU, MLP, BATCH = 5, (6, 4), (5, 4), 8
SEED = 7
ITERATIONS = 3  # 18 samples in batches of 8, 8, 2: the third iteration is a pass's short last batch


# ==============================================================================================================
# the reference (float64)
# ==============================================================================================================

def leaky_f(a):
    return np.where(a > 0, a, LEAKY * a)


def leaky_b(a, g):
    return g * np.where(a > 0, 1.0, LEAKY)


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def softmax_b(p, g):
    return p * (g - (g * p).sum(axis=1, keepdims=True))


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def mse(pred, target, mask):
    """Keras' mean_squared_error (mean over the last axis), averaged over the batch's real rows; and d/d pred."""
    n = mask.sum()
    loss = float((mask * ((pred - target) ** 2).mean(axis=1)).sum() / n)
    grad = mask[:, None] * 2.0 * (pred - target) / (pred.shape[1] * n)
    return loss, grad


def mlp_forward(P, x, out):
    """Dense -> LeakyReLU -> Dense -> LeakyReLU -> Dense -> softmax (M, dense_net.py L53-67) or sigmoid (D,
    L36-51). ``P``: dict of kernels W1..W3 and biases b1..b3."""
    a1 = x @ P["W1"] + P["b1"]
    h1 = leaky_f(a1)
    a2 = h1 @ P["W2"] + P["b2"]
    h2 = leaky_f(a2)
    z = h2 @ P["W3"] + P["b3"]
    y = softmax(z) if out == "softmax" else sigmoid(z)
    return y, (x, a1, h1, a2, h2, y, out)


def mlp_backward(P, cache, gy):
    """Gradients of the parameters and of the input, given d loss / d output."""
    x, a1, h1, a2, h2, y, out = cache
    gz = softmax_b(y, gy) if out == "softmax" else gy * y * (1.0 - y)
    g = {"W3": h2.T @ gz, "b3": gz.sum(0)}
    ga2 = leaky_b(a2, gz @ P["W3"].T)
    g.update(W2=h1.T @ ga2, b2=ga2.sum(0))
    ga1 = leaky_b(a1, ga2 @ P["W2"].T)
    g.update(W1=x.T @ ga1, b1=ga1.sum(0))
    return g, ga1 @ P["W1"].T


def bn_train_f(a, gamma, beta):
    mean = a.mean(0)
    var = ((a - mean) ** 2).mean(0)  # normalised with the biased variance (tf.nn.moments)
    inv = 1.0 / np.sqrt(var + BN_EPS)
    xhat = (a - mean) * inv
    n = a.shape[0]
    unbiased = var * n / (n - (1.0 + BN_EPS))  # Keras 2.2 BatchNormalization.call: the moving variance's input
    return gamma * xhat + beta, (xhat, inv, gamma), mean, unbiased


def bn_train_b(cache, gy):
    xhat, inv, gamma = cache
    n = xhat.shape[0]
    gx = gy * gamma
    ga = inv / n * (n * gx - gx.sum(0) - xhat * (gx * xhat).sum(0))
    return ga, (gy * xhat).sum(0), gy.sum(0)


def ctmu_forward(C, stats, z, c, training):
    """concat(z, one-hot) -> Dense, ReLU -> BN -> Dense, ReLU -> BN (dense_net.py L11-24, ReLU before BN).
    Inference: BN on the moving statistics ``stats`` (mean1, var1, mean2, var2)."""
    x0 = np.concatenate([z, c], axis=1)
    a1 = x0 @ C["W1"] + C["b1"]
    r1 = np.maximum(a1, 0.0)
    batch_stats, caches = [], []
    if training:
        h1, bc1, m1, v1 = bn_train_f(r1, C["g1"], C["be1"])
    else:
        h1 = (r1 - stats[0]) / np.sqrt(stats[1] + BN_EPS) * C["g1"] + C["be1"]
    a2 = h1 @ C["W2"] + C["b2"]
    r2 = np.maximum(a2, 0.0)
    if training:
        h2, bc2, m2, v2 = bn_train_f(r2, C["g2"], C["be2"])
        batch_stats, caches = [m1, v1, m2, v2], (x0, a1, bc1, h1, a2, bc2)
    else:
        h2 = (r2 - stats[2]) / np.sqrt(stats[3] + BN_EPS) * C["g2"] + C["be2"]
    return h2, batch_stats, caches


def ctmu_backward(C, caches, gh2):
    x0, a1, bc1, h1, a2, bc2 = caches
    g = {}
    gr2, g["g2"], g["be2"] = bn_train_b(bc2, gh2)
    ga2 = gr2 * (a2 > 0)
    g["W2"], g["b2"] = h1.T @ ga2, ga2.sum(0)
    gr1, g["g1"], g["be1"] = bn_train_b(bc1, ga2 @ C["W2"].T)
    ga1 = gr1 * (a1 > 0)
    g["W1"], g["b1"] = x0.T @ ga1, ga1.sum(0)
    return g


def igu_forward(I, h, X):
    """Dense(n_i), softmax -> alpha; output alpha . X_i (dense_net.py L26-34)."""
    alpha = softmax(h @ I["W"] + I["b"])
    return alpha @ X, alpha


def g_loss_and_grads(S, k, z, against):
    """G->M_k (target 1 - one-hot, dense_gamo_main.py L128-129) or G->D_k (target 1, L124, L130): MSE on the
    frozen player's output; gradients of the cTMU and IGU_k; the batch statistics of both BN layers."""
    c = np.zeros((len(z), S["C_"]))
    c[:, S["minority"][k]] = 1.0
    h, batch_stats, caches = ctmu_forward(S["C"], None, z, c, training=True)
    I, X = S["I"][k], S["X"][k]
    x, alpha = igu_forward(I, h, X)
    ones = np.ones(len(z))
    if against == "M":
        y, cache = mlp_forward(S["M"], x, "softmax")
        loss, gy = mse(y, 1.0 - c, ones)
        _, gx = mlp_backward(S["M"], cache, gy)
    else:
        y, cache = mlp_forward(S["D"], np.concatenate([x, c], axis=1), "sigmoid")
        loss, gy = mse(y, np.full((len(z), 1), G_VS_D_TARGET), ones)
        _, gxc = mlp_backward(S["D"], cache, gy)
        gx = gxc[:, :x.shape[1]]
    galpha = gx @ X.T
    glogit = softmax_b(alpha, galpha)
    gI = {"W": h.T @ glogit, "b": glogit.sum(0)}
    gC = ctmu_backward(S["C"], caches, glogit @ I["W"].T)
    return loss, gC, gI, batch_stats


class Adam:
    """Keras 2.2's Adam (keras/optimizers.py): t = iterations + 1, lr_t = lr sqrt(1 - b2^t) / (1 - b1^t),
    m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g^2, p -= lr_t m / (sqrt(v) + eps). ONE object shared by every
    compiled model (dense_gamo_main.py L24, L51, L55, L72, L81): one counter, one moment set per compiled
    model, created at its compile."""

    def __init__(self):
        self.iterations = 0
        self.m, self.v = {}, {}

    def step(self, model: str, *groups):
        """One ``train_on_batch`` of ``model``: ``groups`` are (tag, params, grads); the counter advances once."""
        t = self.iterations + 1
        lr_t = LR * math.sqrt(1.0 - BETA_2 ** t) / (1.0 - BETA_1 ** t)
        for tag, params, grads in groups:
            for name in grads:
                key = (model, tag, name)
                m = self.m.get(key, 0.0)
                v = self.v.get(key, 0.0)
                m = BETA_1 * m + (1.0 - BETA_1) * grads[name]
                v = BETA_2 * v + (1.0 - BETA_2) * grads[name] ** 2
                params[name] = params[name] - lr_t * m / (np.sqrt(v) + ADAM_EPS)
                self.m[key], self.v[key] = m, v
        self.iterations = t


def bn_site_update(S, site, batch_stats):
    """Keras 2.2 on TF1: K.moving_average_update -> assign_moving_average(zero_debias=True). Every composite
    that calls the cTMU has its own 'biased' shadow variables and 'local_step' (one set per BN statistic); each
    training run of that composite updates them and overwrites the shared moving statistic with
    biased / (1 - momentum^local_step)."""
    shadow = S["sites"].setdefault(site, {"biased": [np.zeros_like(s) for s in batch_stats], "step": 0})
    shadow["step"] += 1
    decay = 1.0 - BN_MOMENTUM
    shadow["biased"] = [b - (b - s) * decay for b, s in zip(shadow["biased"], batch_stats)]
    S["moving"] = [b / (1.0 - BN_MOMENTUM ** shadow["step"]) for b in shadow["biased"]]


def reference_iteration(S, xb, yb, rnd):
    """One iteration of dense_gamo_main.py L103-130, in its order. Returns the 4 + 2 * n_minority losses."""
    n = len(xb)
    ones = np.ones(n)
    losses = []
    opt = S["adam"]
    # L106: M on the real batch (MSE, mlp compiled at L51)
    y, cache = mlp_forward(S["M"], xb, "softmax")
    loss, gy = mse(y, yb, ones)
    opt.step("M", ("M", S["M"], mlp_backward(S["M"], cache, gy)[0]))
    losses.append(loss)
    # L105, L107: D on (real x, real one-hot), target 1 - U(0, 0.1)
    y, cache = mlp_forward(S["D"], np.concatenate([xb, yb], axis=1), "sigmoid")
    loss, gy = mse(y, 1.0 - rnd["u_real"], ones)
    opt.step("D", ("D", S["D"], mlp_backward(S["D"], cache, gy)[0]))
    losses.append(loss)
    # L110-118: the fake batch, cTMU in inference mode (gen.predict: the moving statistics), each row through
    # the IGU of its class
    fake, c_fake = reference_fake_batch(S, rnd["z_fake"], rnd["fake_labels"])
    # L120: M on the fakes with their intended labels
    y, cache = mlp_forward(S["M"], fake, "softmax")
    loss, gy = mse(y, c_fake, ones)
    opt.step("M", ("M", S["M"], mlp_backward(S["M"], cache, gy)[0]))
    losses.append(loss)
    # L109, L121: D on the fakes, target U(0, 0.1)
    y, cache = mlp_forward(S["D"], np.concatenate([fake, c_fake], axis=1), "sigmoid")
    loss, gy = mse(y, rnd["u_fake"], ones)
    opt.step("D", ("D", S["D"], mlp_backward(S["D"], cache, gy)[0]))
    losses.append(loss)
    # L123-130: per minority class, G->M_k then G->D_k on the SAME noise batch (randNoise drawn once, L127)
    for k in range(len(S["minority"])):
        z = rnd["z_gen"][k]
        for against in ("M", "D"):
            loss, gC, gI, batch_stats = g_loss_and_grads(S, k, z, against)
            model = f"G{against}{k}"
            # composite genP_mlp[k] / genP_dis[k] (L72, L81): the cTMU and IGU_k, its own moment set
            opt.step(model, ("C", S["C"], gC), (f"I{k}", S["I"][k], gI))
            bn_site_update(S, model, batch_stats)
            losses.append(loss)
    return losses


def reference_fake_batch(S, z, labels):
    """dense_gamo_main.py L110-118 with dense_suppli.py L49-57: labels are indices into the minority classes;
    gen.predict (BN on the moving statistics), then each row through its own class's IGU."""
    c = np.zeros((len(z), S["C_"]))
    c[np.arange(len(z)), np.asarray(S["minority"])[labels]] = 1.0
    h, _, _ = ctmu_forward(S["C"], S["moving"], z, c, training=False)
    fake = np.zeros((len(z), S["X"][0].shape[1]))
    for k in range(len(S["minority"])):
        rows = np.flatnonzero(labels == k)
        if len(rows):
            fake[rows] = igu_forward(S["I"][k], h[rows], S["X"][k])[0]
    return fake, c


def reference_random(seed, it, n, n_minority, gen_points, to_balance):
    """The port's random stream, re-drawn here with the original's distributions: one generator per (seed,
    iteration) (PCG64 keyed by [seed, 1, iteration], gamo/data.py), drawn in this order."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 1, it])))
    u_real = rng.uniform(0.0, REAL_SMOOTH, (BATCH, 1))
    # dense_suppli.py L49-57: u ~ U(0, 1) through the bins [0, cumsum(toBalance / sum)]
    bins = np.insert(np.cumsum(np.asarray(to_balance) / np.sum(to_balance)), 0, 0.0)
    labels = np.minimum(np.digitize(rng.random(BATCH), bins) - 1, n_minority - 1)
    z_fake = rng.standard_normal((BATCH, LATENT))
    u_fake = rng.uniform(0.0, FAKE_SMOOTH, (BATCH, 1))
    z_gen = rng.standard_normal((n_minority, gen_points, LATENT))
    return {"u_real": u_real[:n], "fake_labels": labels[:n], "z_fake": z_fake[:n], "u_fake": u_fake[:n],
            "z_gen": z_gen}


# ==============================================================================================================
# fixed weights, the port, and the comparison
# ==============================================================================================================

def fixed_weights(dim, C, n_minority_sizes, rng):
    def dense(i, o, scale=0.6):
        return rng.uniform(-scale, scale, (i, o)), rng.uniform(-0.1, 0.1, o)

    def mlp(i, o):
        P = {}
        P["W1"], P["b1"] = dense(i, MLP[0])
        P["W2"], P["b2"] = dense(MLP[0], MLP[1])
        P["W3"], P["b3"] = dense(MLP[1], o)
        return P

    Cp = {}
    Cp["W1"], Cp["b1"] = dense(LATENT + C, CTMU[0])
    Cp["W2"], Cp["b2"] = dense(CTMU[0], CTMU[1])
    Cp["b1"] += 0.2  # most ReLU units active
    Cp["b2"] += 0.2
    Cp["g1"], Cp["be1"] = rng.uniform(0.8, 1.2, CTMU[0]), rng.uniform(-0.1, 0.1, CTMU[0])
    Cp["g2"], Cp["be2"] = rng.uniform(0.8, 1.2, CTMU[1]), rng.uniform(-0.1, 0.1, CTMU[1])
    I = []
    for n in n_minority_sizes:
        W, b = dense(CTMU[1], n, 1.0)
        I.append({"W": W, "b": b})
    return {"M": mlp(dim, C), "D": mlp(dim + C, 1), "C": Cp, "I": I}


def tiny_trainer():
    rng = np.random.default_rng(3)
    y = np.concatenate([np.full(c, i) for i, c in enumerate(COUNTS)]).astype(np.int64)
    x = rng.integers(0, 256, (len(y),) + SHAPE, dtype=np.uint8)
    x[:, 0, 0, 0] = rng.choice([127, 128], len(y))  # one pixel close to 0 after scaling: small gradients,
    #                                                 where Adam's epsilon matters
    yt = np.repeat(np.arange(len(COUNTS)), 2)
    xt = rng.integers(0, 256, (len(yt),) + SHAPE, dtype=np.uint8)
    prep = gd.prepare(x, y, xt, yt, list(COUNTS), flatten=True, transpose=False,
                      shuffle_rng=np.random.default_rng(4))
    # the MNIST configuration with tiny sizes: every constant of the game is configs/mnist.py's
    cfg = load_config("mnist", "full", image_shape=SHAPE, latent_dim=LATENT, ctmu_units=CTMU, mlp_units=MLP,
                       batch_size=BATCH, max_step=2 * ITERATIONS, xla=False, max_segment=1)
    return Trainer(cfg, prep, seed=SEED, progress=False, log=lambda *_: None), prep


def port_state(trainer, W):
    """The trainer's initial state with the reference's weights put in by variable path."""
    g = trainer.game
    state = backend.to_numpy(trainer.game.initial_state())

    def put(model, P, names):
        out = []
        for v in model.trainable_variables:
            a = np.asarray(P[names[v.path]], np.float32)
            assert a.shape == tuple(v.shape), v.path
            out.append(a)
        return out

    mlp_names = {"dense1/kernel": "W1", "dense1/bias": "b1", "dense2/kernel": "W2", "dense2/bias": "b2",
                 "out/kernel": "W3", "out/bias": "b3"}
    state["p"]["M"] = put(g.M, W["M"], mlp_names)
    state["p"]["D"] = put(g.D, W["D"], mlp_names)
    state["p"]["C"] = put(g.G, W["C"], {"dense1/kernel": "W1", "dense1/bias": "b1", "bn1/gamma": "g1",
                                         "bn1/beta": "be1", "dense2/kernel": "W2", "dense2/bias": "b2",
                                         "bn2/gamma": "g2", "bn2/beta": "be2"})
    state["p"]["I"] = [put(m, I, {"alpha/kernel": "W", "alpha/bias": "b"}) for m, I in zip(g.IGU, W["I"])]
    return state


def reference_as_port(S, trainer):
    """The reference state in the port's layout (what its state should hold)."""
    g = trainer.game
    mlp = ["W1", "b1", "W2", "b2", "W3", "b3"]
    ctmu = ["W1", "b1", "g1", "be1", "W2", "b2", "g2", "be2"]
    p = {"M": [S["M"][k] for k in mlp], "D": [S["D"][k] for k in mlp], "C": [S["C"][k] for k in ctmu],
         "I": [[I["W"], I["b"]] for I in S["I"]], "Cn": list(S["moving"])}
    # per call site: (biased mean, biased variance, local step) of BN 1, then of BN 2
    p["Cb"] = {}
    for site in g.bn_sites:
        sh = S["sites"].get(site, {"biased": [np.zeros(CTMU[0]), np.zeros(CTMU[0]), np.zeros(CTMU[1]),
                                              np.zeros(CTMU[1])], "step": 0})
        b = sh["biased"]
        p["Cb"][site] = [b[0], b[1], np.float64(sh["step"]), b[2], b[3], np.float64(sh["step"])]
    opt = S["adam"]
    m, v = {}, {}
    for owner, names, group in [("M", mlp, "M"), ("D", mlp, "D")]:
        m[f"{owner}/{group}"] = [opt.m.get((owner, group, k), np.zeros_like(S[group][k])) for k in names]
        v[f"{owner}/{group}"] = [opt.v.get((owner, group, k), np.zeros_like(S[group][k])) for k in names]
    for k in range(len(S["I"])):
        for kind in ("GM", "GD"):
            owner = f"{kind}{k}"
            m[f"{owner}/C"] = [opt.m.get((owner, "C", n), np.zeros_like(S["C"][n])) for n in ctmu]
            v[f"{owner}/C"] = [opt.v.get((owner, "C", n), np.zeros_like(S["C"][n])) for n in ctmu]
            m[f"{owner}/I{k}"] = [opt.m.get((owner, f"I{k}", n), np.zeros_like(S["I"][k][n])) for n in "Wb"]
            v[f"{owner}/I{k}"] = [opt.v.get((owner, f"I{k}", n), np.zeros_like(S["I"][k][n])) for n in "Wb"]
    return {"p": p, "o": {"t": {"shared": np.float64(opt.iterations)}, "m": m, "v": v}}


def compare(port, ref, init, what):
    """Every leaf of the port's state against the reference, measured on what the updates changed: an update
    moves a weight by about the learning rate (2e-4), so the tolerance is set on the change (1e-3 of it, plus
    1e-4 of the leaf's largest change for elements where float32 cancels), plus float32 rounding of the value."""
    flat_port = keras.tree.flatten_with_path(port)
    flat_ref = dict(keras.tree.flatten_with_path(ref))
    flat_init = dict(keras.tree.flatten_with_path(init))
    assert len(flat_port) == len(flat_ref) == len(flat_init), f"{what}: state layout differs"
    for path, a in flat_port:
        a = np.asarray(a, np.float64)
        b = np.reshape(flat_ref[path], a.shape)
        change = np.abs(b - np.reshape(flat_init[path], a.shape))
        allowed = 1e-3 * change + 1e-4 * change.max(initial=0.0) + 4e-7 * np.abs(b)
        bad = np.abs(a - b) > allowed
        assert not bad.any(), (f"{what}: {'/'.join(map(str, path))}: {int(bad.sum())} of {a.size} differ, "
                               f"port {a[bad][:3]} reference {b[bad][:3]} (change {change[bad][:3]})")


def reference_start(trainer, prep, W):
    S = {k: (dict(v) if isinstance(v, dict) else [dict(i) for i in v]) for k, v in W.items()}
    S.update(C_=len(COUNTS), minority=list(prep.minority), adam=Adam(), sites={},
             moving=[np.zeros(CTMU[0]), np.ones(CTMU[0]), np.zeros(CTMU[1]), np.ones(CTMU[1])],
             X=[prep.x_train[np.flatnonzero(prep.y_train == c)].astype(np.float64) for c in prep.minority])
    return S


@pytest.fixture(scope="module")
def problem():
    trainer, prep = tiny_trainer()
    W = fixed_weights(int(np.prod(SHAPE)), len(COUNTS), [int((prep.y_train == c).sum()) for c in prep.minority],
                      np.random.default_rng(11))
    return trainer, prep, W


def test_reference_gradients_match_finite_differences(problem):
    """The hand-written backward passes of the reference are right (central differences, float64)."""
    trainer, prep, W = problem
    S = reference_start(trainer, prep, W)
    z = np.random.default_rng(5).standard_normal((3, LATENT))
    for against in ("M", "D"):
        _, gC, gI, _ = g_loss_and_grads(S, 1, z, against)
        for group, grads in (("C", gC), ("I", gI)):
            P = S["C"] if group == "C" else S["I"][1]
            for name, g in grads.items():
                flat = P[name].reshape(-1)
                for i in range(0, flat.size, max(1, flat.size // 5)):
                    old = flat[i]
                    flat[i] = old + 1e-6
                    up = g_loss_and_grads(S, 1, z, against)[0]
                    flat[i] = old - 1e-6
                    down = g_loss_and_grads(S, 1, z, against)[0]
                    flat[i] = old
                    assert (up - down) / 2e-6 == pytest.approx(g.reshape(-1)[i], rel=1e-4, abs=1e-9), \
                        (against, group, name, i)
    xb, yb = prep.x_train[:4].astype(np.float64), gd.one_hot(prep.y_train[:4], 3).astype(np.float64)
    for P, inp, out, tgt in ((S["M"], xb, "softmax", yb),
                             (S["D"], np.concatenate([xb, yb], 1), "sigmoid", np.full((4, 1), 0.93))):
        y, cache = mlp_forward(P, inp, out)
        grads, _ = mlp_backward(P, cache, mse(y, tgt, np.ones(4))[1])
        for name, g in grads.items():
            flat = P[name].reshape(-1)
            for i in range(0, flat.size, max(1, flat.size // 5)):
                old = flat[i]
                flat[i] = old + 1e-6
                up = mse(mlp_forward(P, inp, out)[0], tgt, np.ones(4))[0]
                flat[i] = old - 1e-6
                down = mse(mlp_forward(P, inp, out)[0], tgt, np.ones(4))[0]
                flat[i] = old
                assert (up - down) / 2e-6 == pytest.approx(g.reshape(-1)[i], rel=1e-4, abs=1e-9), (out, name, i)


def test_three_iterations_match_the_reference(problem):
    """Trainer.run_segment (the compiled chunk run.py uses) against the reference, iteration by iteration."""
    trainer, prep, W = problem
    trainer.state = backend.to_device(port_state(trainer, W))
    S = reference_start(trainer, prep, W)
    init = reference_as_port(S, trainer)
    n_min = len(prep.minority)
    gen_points = math.ceil(BATCH / len(COUNTS))  # dense_gamo_main.py L85: ceil(batchSize / c)
    y1h = gd.one_hot(prep.y_train, len(COUNTS)).astype(np.float64)
    n_batches = math.ceil(len(prep.y_train) / BATCH)  # dense_suppli.py L59-70: sequential, the last one short
    assert trainer.game.loss_names == ["M_real", "D_real", "M_fake", "D_fake", "GM0", "GD0", "GM1", "GD1"]
    for it in range(ITERATIONS):
        j = it % n_batches
        rows = slice(j * BATCH, min((j + 1) * BATCH, len(prep.y_train)))
        xb, yb = prep.x_train[rows].astype(np.float64), y1h[rows]
        rnd = reference_random(SEED, it, len(xb), n_min, gen_points, prep.to_balance)
        ref_losses = reference_iteration(S, xb, yb, rnd)
        trainer.run_segment(it, it + 1)
        port_losses = backend.to_numpy(trainer.last_losses)
        np.testing.assert_allclose(port_losses, ref_losses, rtol=2e-5, atol=1e-7,
                                   err_msg=f"losses of iteration {it} ({trainer.game.loss_names})")
        compare(backend.to_numpy(trainer.state), reference_as_port(S, trainer), init, f"after iteration {it}")
    assert len(xb) == 2  # the last iteration was the short batch
    assert S["adam"].iterations == ITERATIONS * (4 + 2 * n_min)


def test_fake_batch_matches_the_reference(problem):
    """The assembled fake batch (what M and D train on at L120-121): the cTMU on its moving statistics,
    each row through its own class's IGU, against the reference, with non-trivial moving statistics."""
    trainer, prep, W = problem
    state = port_state(trainer, W)
    rng = np.random.default_rng(8)
    moving = [rng.uniform(-0.3, 0.8, CTMU[0]), rng.uniform(0.2, 2.0, CTMU[0]), rng.uniform(-0.3, 0.8, CTMU[1]),
              rng.uniform(0.2, 2.0, CTMU[1])]
    state["p"]["Cn"] = [m.astype(np.float32) for m in moving]
    S = reference_start(trainer, prep, W)
    S["moving"] = moving
    z = rng.standard_normal((7, LATENT))
    labels = np.array([0, 1, 1, 0, 1, 0, 0])
    want, c_want = reference_fake_batch(S, z, labels)
    x_cat = backend.to_device(prep.x_train[prep.minority_rows])
    got, c = trainer.game.fake_batch(backend.to_device(state["p"]), backend.to_device(z.astype(np.float32)),
                                     backend.to_device(labels.astype(np.int32)), x_cat)
    np.testing.assert_allclose(backend.to_numpy(c), c_want)
    np.testing.assert_allclose(backend.to_numpy(got), want, rtol=1e-5, atol=1e-6)
    # every fake is a convex combination of its own class's samples: inside that class's bounding box
    for r, k in enumerate(labels):
        assert (want[r] <= S["X"][k].max(0) + 1e-9).all() and (want[r] >= S["X"][k].min(0) - 1e-9).all()
