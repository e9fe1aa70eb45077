"""One training iteration of the released DFG code, recomputed in plain NumPy and compared with the port's real
``Trainer.iteration`` (what ``Trainer.train`` calls every step).

The reference is written from the original (opensuh/DFG@fa1218f ``train.py``, ``model.py``, ``utils.py``), not
from this port; every constant is the original's value with its file and line, so a changed default fails here.
One iteration (``train.py`` L956-977): (1) five WGAN-GP critic updates, one per queued real batch; (2) G against D;
(3) G through C_t on [G(z, y); E_t(x0)]; (4) E_t and C_t on x0 with DELTA's regularisers, CE counted twice; (5) at
every 5th step, C_t on real, generated and merged features; (6) at every 2,000th step, when step 4's e_loss is below
0.05, a new generator mask from filter ablation. LeNet-5's shapes (E 6x14x14, C 16 ch, 1024, 128), K = 3 classes,
batch 4, 8 noise units; fixed weights, fixed Adam moments (so the updates depend on the gradients' magnitudes),
fixed channel weights and attention. The port draws its noise, the interpolation weights and the ablation loader's
permutation from one torch generator: the test records those draws and feeds them to the reference, which maps them
as the original does (z = U(-1, 1), labels uniform over K). Gradients come from ``shared_data.testing.npgrad`` (a
small NumPy autodiff); the port runs in float64.
"""
from __future__ import annotations

import types

import numpy as np
import pytest
import torch
from shared_data import skeleton
from shared_data.testing import npgrad as ng, references

import run as dfg_run
from dfg import train as T
from dfg.train import Run, atomic_torch_save

# ---- the original's constants --------------------------------------------------------------------------------
NUM_D_ITERS = 5  # --num_d_iters (train.py L1057): critic updates per iteration = queued batches
LAMBDA_GP = 10.0  # --lambda_gp (L1053)
GP_SHIFT = 1e-16  # compute_gradient_penalty adds it to the flattened gradient (L539)
ALPHA_E, ALPHA_C, BETA_C = 0.01, 0.01, 0.01  # --alpha_extractor, --alpha_classifier, --beta_classifier (L1054-1056)
LR = 1e-4  # the four learning rates (L1041-1044)
BETAS = (0.5, 0.9)  # every Adam (L896-897, L911-912)
ADAM_EPS = 1e-8  # not passed: PyTorch's default
STEP_FOR_3_4, STEP_FOR_5, STEP_FOR_6 = 1, 5, 2000  # L1036-1038
E_LOSS_FOR_6 = 0.05  # L1039
INIT_THRESHOLD, UPDATE_THRESHOLD = 0.9, 0.95  # C * A >= 0.9 at the start (L927-928), >= 0.95 after an update (L771)
LABEL_MIN = 10  # images per class for the ablation (L729)
SLOPE = 1.0  # nn.LeakyReLU(True): negative_slope = True = 1.0 (model.py L62, L65, L91, L94, L97)
BN_EPS, BN_MOMENTUM = 1e-5, 0.1  # G's BatchNorms take no arguments (model.py L14, L61, L64, L70)
TEMPERATURE = 5.0  # softmax(zscore / 5) of the channel weights (L920, L941)

# ---- sizes -------------------------------------------------------------------------------------------------------
K, B, NZ, N_PER_CLASS = 3, 4, 8, 8
C_E = 6  # E's channels


# ---- the reference networks -------------------------------------------------------------------------------------
def extractor(p, x):
    """model.py Feature_Extractor, LeNet: Lenet5.model[:3] = conv(1, 6, 5), ReLU, max-pool 2."""
    return ng.maxpool2(ng.relu(ng.conv2d(x, p["model.0.weight"]) + ng.reshape(p["model.0.bias"], (1, -1, 1, 1))))


def classifier(p, f):
    """model.py Feature_Classifier, LeNet: conv(6, 16, 5), ReLU, max-pool, 400-1024-128-K with ReLUs. Returns the
    logits and the hooked conv2 output, which the in-place ReLU after it has overwritten (train.py L319-328)."""
    h = ng.relu(ng.conv2d(f, p["feature.0.weight"]) + ng.reshape(p["feature.0.bias"], (1, -1, 1, 1)))
    x = ng.reshape(ng.maxpool2(h), (h.shape[0], -1))
    x = ng.relu(ng.linear(x, p["classifier.0.weight"], p["classifier.0.bias"]))
    x = ng.relu(ng.linear(x, p["classifier.2.weight"], p["classifier.2.bias"]))
    return ng.linear(x, p["classifier.4.weight"], p["classifier.4.bias"]), h


def _bn(x, p, stats, name, axes):
    """Training-mode BatchNorm (batch statistics; running statistics moved towards the unbiased variance)."""
    shape = (1, -1) + (1,) * (len(x.shape) - 2)
    mu = ng.mean(x, axes, keepdims=True)
    d = x - mu
    var = ng.mean(d * d, axes, keepdims=True)
    out = d / ng.sqrt(var + BN_EPS) * ng.reshape(p[name + ".weight"], shape) + ng.reshape(p[name + ".bias"], shape)
    n = x.v.size / x.shape[1]
    rm, rv, nb = stats[name]
    stats[name] = ((1 - BN_MOMENTUM) * rm + BN_MOMENTUM * mu.v.ravel(),
                   (1 - BN_MOMENTUM) * rv + BN_MOMENTUM * var.v.ravel() * n / (n - 1), nb + 1)
    return out


def generator(p, stats, zin, att):
    """model.py L6-81, LeNet: Linear + BN1d -> 128x4x4 -> ConvT(128, 48, 3, 2) BN LReLU(True) -> ConvT(48, 12, 3)
    BN LReLU(True) -> ConvT(12, 6, 4) Tanh BN, times the mask row (einsum 'aijk, ai -> aijk', L80)."""
    x = _bn(ng.linear(zin, p["dense.0.weight"], p["dense.0.bias"]), p, stats, "dense.1", (0,))
    x = ng.reshape(x, (x.shape[0], 128, 4, 4))
    x = ng.leaky_relu(_bn(ng.conv2d_transpose(x, p["model.0.weight"], 2, 0), p, stats, "model.1", (0, 2, 3)), SLOPE)
    x = ng.leaky_relu(_bn(ng.conv2d_transpose(x, p["model.3.weight"], 1, 0), p, stats, "model.4", (0, 2, 3)), SLOPE)
    x = _bn(ng.tanh(ng.conv2d_transpose(x, p["model.6.weight"], 1, 0)), p, stats, "model.8", (0, 2, 3))
    return x * ng.V(att[:, :, None, None])


def critic(p, x):
    """model.py L84-109: three conv(5, stride 2, pad 2, no bias) + LReLU(True), Linear(512, 1)."""
    for k in ("conv.0", "conv.2", "conv.4"):
        x = ng.leaky_relu(ng.conv2d(x, p[k + ".weight"], 2, 2), SLOPE)
    return ng.linear(ng.reshape(x, (x.shape[0], -1)), p["dense.weight"], p["dense.bias"])


def channel_weights(v):
    """softmax(zscore(v) / 5), np.std (population) (train.py L917-920, L938-941)."""
    v = np.asarray(v, dtype=np.float64)
    z = (v - v.mean()) / v.std() / TEMPERATURE
    return np.exp(z) / np.exp(z).sum()


def fm_distance(t, s, w):
    """extractor_att_fea_map / reg_att_fea_map (L490-513): 0.5 sum_b sum_c C w_c ||t - s||^2 / (H W)."""
    b, c, h, wd = s.shape
    d = t - ng.const(s)
    sq = ng.sum_(ng.reshape(d * d, (b, c, h * wd)), 2)
    return ng.sum_(sq * ng.V(c * w / (h * wd))) * 0.5


def fc_decay(p):
    """reg_classifier (L515-520): 0.5 ||param||^2 for the parameters named classifier.4.*."""
    return (ng.sum_(p["classifier.4.weight"] * p["classifier.4.weight"]) +
            ng.sum_(p["classifier.4.bias"] * p["classifier.4.bias"])) * 0.5


def adam(params, grads, state):
    """torch.optim.Adam's update for the parameters in ``grads`` (``npgrad`` values; the BatchNorm buffers pass
    through)."""
    out = dict(params)
    for k, g in grads.items():
        out[k], state[k] = references.torch_adam(params[k], g.v, state[k], LR, BETAS, ADAM_EPS)
    return out


def vs(d):
    return {k: ng.V(v) for k, v in d.items() if "running" not in k}


def reference_iteration(step, W, stats, states, chan, X, Y, queue, draws):
    """train.py L956-977 for one step. ``W``: dict of the four trained nets' weights and the frozen source E_s,
    C_s. ``draws``: the uniform noise, labels, interpolation weights and permutations, in the order drawn."""
    E, C, G, D, Es, Cs = (W[k] for k in ("e_t", "c_t", "g", "d", "e_s", "c_s"))
    a = np.asarray(chan["generator_attention"], dtype=np.float64)
    mask = np.where(a * C_E >= INIT_THRESHOLD, a, 0.0)  # L924-928 (kept values are not renormalised)
    w_e = channel_weights(chan["extractor_weights"])
    w_c = channel_weights(chan["classifier_weights"][0])
    zs, ys, alphas, perms = (list(draws[k]) for k in ("z", "y", "alpha", "perm"))

    def noise():  # utils.z_sampler: z ~ U(-1, 1), labels uniform over 0..K-1; mask row of the label
        z = zs.pop(0) * 2 - 1
        y = ys.pop(0)
        onehot = np.eye(K)[y]
        return np.concatenate([z, onehot], 1), onehot @ mask, y

    out = {}
    assert len(queue) == NUM_D_ITERS
    # 1. critic (train_discriminator, L543-571): E_t, G frozen; one D update per queued batch
    for idx in queue:
        real = extractor(vs(E), ng.V(X[idx])).v
        zin, att, _ = noise()
        fake = generator(vs(G), stats, ng.V(zin), att).v
        alpha = alphas.pop(0)
        x_hat = ng.V(alpha * real + (1 - alpha) * fake)
        P = vs(D)
        u = ng.grad(ng.sum_(critic(P, x_hat)), [x_hat])[0].v.reshape(B, -1) + GP_SHIFT  # L531-539
        norm = np.sqrt((u ** 2).sum(1))
        gp = ((norm - 1) ** 2).mean()
        d_fake, d_real = critic(P, ng.V(fake)), critic(P, ng.V(real))
        loss = ng.mean(d_fake) - ng.mean(d_real)
        # The critic is linear in its input (slope 1), so ∇_x D is a linear function u(θ) of the weights with
        # <v, u(θ)> = D(v) − D(0): the penalty's weight gradient is that of mean_i [D(v_i) − D(0)] with
        # v_i = dGP_i/du_i = 2 (|u_i| − 1) u_i / |u_i| held fixed (double backward for a linear critic).
        v = (2 * (norm - 1) / norm)[:, None] * u / B
        zero = np.zeros((1, *real.shape[1:]))
        lin = ng.sum_(critic(P, ng.V(v.reshape(real.shape)))) - critic(P, ng.V(zero))[0, 0] * B
        total = loss + lin * LAMBDA_GP
        grads = dict(zip(P, ng.grad(total, list(P.values()))))
        D = adam(D, grads, states["d"])
        out.update(d_loss=float(loss.v) + LAMBDA_GP * gp, gp=gp)
    # linearity of the critic, on which the penalty's gradient above relies
    P = vs(D)
    r1, r2 = np.random.RandomState(0).normal(size=(2, 1, C_E, 14, 14))
    lhs = critic(P, ng.V(r1 + r2)).v + critic(P, ng.V(np.zeros_like(r1))).v
    assert np.allclose(lhs, critic(P, ng.V(r1)).v + critic(P, ng.V(r2)).v, rtol=1e-10, atol=1e-10)
    # 2. G against D (train_generator, L573-594)
    P = vs(G)
    zin, att, _ = noise()
    g_loss = -ng.mean(critic(vs(D), generator(P, stats, ng.V(zin), att)))
    G = adam(G, dict(zip(P, ng.grad(g_loss, list(P.values())))), states["g"])
    out["g_loss"] = float(g_loss.v)
    x0, y0 = X[queue[0]], Y[queue[0]]
    if step % STEP_FOR_3_4 == 0:
        # 3. G through C_t on [G(z, y); E_t(x0)] (train_generator_with_fake_feature, L596-620)
        P = vs(G)
        zin, att, yf = noise()
        merged = ng.concat([generator(P, stats, ng.V(zin), att), ng.const(extractor(vs(E), ng.V(x0)))], 0)
        loss3 = ng.cross_entropy(classifier(vs(C), merged)[0], np.concatenate([yf, y0]))
        G = adam(G, dict(zip(P, ng.grad(loss3, list(P.values())))), states["g"])
        # 4. E_t and C_t with the regularisers (train_extractor_classifier, L622-671)
        PE, PC = vs(E), vs(C)
        f_t = extractor(PE, ng.V(x0))
        logits, hooked = classifier(PC, f_t)
        ce = ng.cross_entropy(logits, y0)
        f_s = extractor(vs(Es), ng.V(x0)).v
        _, hooked_s = classifier(vs(Cs), ng.V(f_s))
        om_e, om_c, om_fc = fm_distance(f_t, f_s, w_e), fm_distance(hooked, hooked_s.v, w_c), fc_decay(PC)
        e_loss = ce + om_e * ALPHA_E
        c_loss_real = ce + om_c * ALPHA_C + om_fc * BETA_C
        leaves = {**{"e." + k: v for k, v in PE.items()}, **{"c." + k: v for k, v in PC.items()}}
        grads = dict(zip(leaves, ng.grad(e_loss + c_loss_real, list(leaves.values()))))
        E = adam(E, {k: grads["e." + k] for k in PE}, states["e_t"])
        C = adam(C, {k: grads["c." + k] for k in PC}, states["c_t"])
        out.update(g_cls_loss=float(loss3.v), e_loss=float(e_loss.v), c_loss_real=float(c_loss_real.v),
                   omega_e=float(om_e.v), omega_c=float(om_c.v), omega_fc=float(om_fc.v))
    if step % STEP_FOR_5 == 0 and step != 0:
        # 5. C_t on real, generated and merged features, 1/3 each; only C_t steps (train_classifier_with_fake)
        PC = vs(C)
        f_t = extractor(vs(E), ng.V(x0)).v
        logits_r, hooked = classifier(PC, ng.V(f_t))
        zin, att, yf = noise()
        fake = generator(vs(G), stats, ng.V(zin), att).v
        f_s = extractor(vs(Es), ng.V(x0)).v
        _, hooked_s = classifier(vs(Cs), ng.V(f_s))
        real_term = ng.cross_entropy(logits_r, y0) + fm_distance(hooked, hooked_s.v, w_c) * ALPHA_C + \
            fc_decay(PC) * BETA_C
        fake_term = ng.cross_entropy(classifier(PC, ng.V(fake))[0], yf)
        merged_term = ng.cross_entropy(classifier(PC, ng.V(np.concatenate([fake, f_t])))[0], np.concatenate([yf, y0]))
        c_loss = real_term * (1 / 3) + fake_term * (1 / 3) + merged_term * (1 / 3)
        C = adam(C, dict(zip(PC, ng.grad(c_loss, list(PC.values())))), states["c_t"])
        out.update(c_loss=float(c_loss.v), c_loss_fake=float(fake_term.v), c_loss_merged=float(merged_term.v))
    new_mask = None
    if step % STEP_FOR_6 == 0 and step != 0 and out["e_loss"] < E_LOSS_FOR_6:
        # 6. update_generator_attention (L726-782) with the current E_t, C_t: the first LABEL_MIN images of each
        # class in the shuffled loader's order; per image CE intact and with each conv1 filter zeroed (bias kept)
        perm = perms.pop(0)
        count, chosen = np.zeros(K, int), []
        for i in perm:
            if count[Y[i]] < LABEL_MIN:
                count[Y[i]] += 1
                chosen.append(i)
        xs, yc = X[chosen], Y[chosen]

        def per_image_ce(e):
            lp = ng.log_softmax(classifier(vs(C), extractor(e, ng.V(xs)))[0]).v
            return -lp[np.arange(len(yc)), yc]
        base = per_image_ce(vs(E))
        w = np.zeros((len(chosen), C_E))
        for j in range(C_E):
            e = {k: v.copy() for k, v in E.items()}
            e["model.0.weight"][j] = 0
            w[:, j] = base - per_image_ce(vs(e))  # L737: base − without j
        soft = np.exp(w - w.max(1, keepdims=True))
        soft /= soft.sum(1, keepdims=True)  # L741-747
        a_new = np.zeros((K, C_E))
        for k in range(K):
            if (yc == k).any():
                a_new[k] = soft[yc == k].mean(0)  # L750-757
        new_mask = np.where(a_new * C_E >= UPDATE_THRESHOLD, a_new, 0.0)  # L768-771: the new attention only
        out["a_new"] = a_new
    return out, {"e_t": E, "c_t": C, "g": G, "d": D}, (mask if new_mask is None else new_mask)


# ---- fixed inputs -------------------------------------------------------------------------------------------------
def _normal_weights(shapes, rs, scale=1.0):
    out = {}
    for k, shp in shapes.items():
        if k.endswith("running_mean"):
            out[k] = rs.normal(0, 0.1, shp)
        elif k.endswith("running_var"):
            out[k] = rs.uniform(0.5, 1.5, shp)
        elif len(shp) == 1 and k.endswith(".weight"):
            out[k] = 1 + rs.normal(0, 0.1, shp)
        elif k.endswith(".bias"):
            out[k] = rs.normal(0, 0.1, shp)
        else:
            fan_in = shp[1] * int(np.prod(shp[2:])) if len(shp) > 2 else shp[1]
            out[k] = rs.normal(0, scale / np.sqrt(fan_in), shp)
    return out


def _adam_state(shapes, rs):
    return {k: (rs.normal(0, 1e-3, s), rs.uniform(0.5, 1.5, s) * 1e-6, 7) for k, s in shapes.items()}


def _to_input(x_uint8):
    """Pad(2), ToTensor, Normalize(0.5, 0.5) (train.py load_data_set, Fashion-MNIST): 28x28 -> 32x32 in [-1, 1],
    in float32 as torchvision computes it (ToTensor divides by 255 in float32)."""
    f = np.float32
    x = np.pad(x_uint8[..., 0].astype(f) / f(255), ((0, 0), (2, 2), (2, 2)))
    return ((x - f(0.5)) / f(0.5)).astype(np.float64)[:, None]


def tiny_run(tmp_path, rs, argv, **cfg_updates):
    """A run's parts at reference sizes: the port's config for ``argv`` (``run.py`` flags) with ``cfg_updates``,
    a K-class split of random uint8 images (minority classes 1 and 2) drawn from ``rs``, a record that logs
    nothing, and a source LeNet-5 with weights drawn from ``rs`` saved where the trainer reads it. Returns
    ``(cfg, split, record, src, x, y)``."""
    torch.set_num_threads(1)
    cfg = dfg_run.configure(skeleton.build_parser(dfg_run.METHOD).parse_args(argv))
    cfg.update(cfg_updates)
    y = np.repeat(np.arange(K), N_PER_CLASS)
    x = rs.randint(0, 256, (len(y), 28, 28, 1)).astype(np.uint8)
    split = types.SimpleNamespace(x_train=x, y_train=y, x_test=x[:2], y_test=y[:2], num_classes=K, split_id="ref",
                                  split_hash="ref", manifest={"dfg": {"minority_classes": [1, 2]}})
    record = types.SimpleNamespace(checkpoint_dir=tmp_path, path=tmp_path, log_metrics=lambda *a, **k: None,
                                   log_eval=lambda *a, **k: None)
    src = T.nets.Lenet5(10)
    src_w = _normal_weights({k: tuple(v.shape) for k, v in src.state_dict().items()}, rs, scale=1.4)
    src.load_state_dict({k: torch.from_numpy(v).float() for k, v in src_w.items()})
    atomic_torch_save({"state_dict": src.state_dict(), "info": {}}, tmp_path / "source.pt")
    return cfg, split, record, src, x, y


def _setup(tmp_path, rs):
    # the port's defaults, fixes included
    cfg, split, record, src, x, y = tiny_run(tmp_path, rs, ["--dataset", "mnist", "--budget", "full"],
                                             batch_size=B, noise_dim=NZ)
    att = np.array([[1.2, 0.86, 0.92, 1.0, 0.97, 1.05], [0.88, 1.1, 0.93, 0.96, 1.13, 1.0],
                    [1.0, 0.91, 1.09, 0.85, 1.05, 1.1]]) / C_E
    chan = {"generator_attention": (np.round(att * 4096) / 4096).tolist(),  # exact in float32, as the port keeps it
            "extractor_weights": rs.normal(0, 0.3, C_E).tolist(), "classifier_weights": [rs.normal(0, 0.3, 16).tolist()]}
    owner = Run(cfg, split, record, seed=3, device=torch.device("cpu"))
    tr = T.Trainer(owner, chan)
    tr._setup()
    return tr, chan, src, _to_input(x), y


def _fit_head(E, C, X, Y, margin):
    """Least-squares head (classifier.4) giving every training image logit `margin` on its class, 0 elsewhere."""
    f = extractor(vs(E), ng.V(X))
    p = vs(C)
    h = ng.reshape(ng.maxpool2(ng.relu(ng.conv2d(f, p["feature.0.weight"]) +
                                       ng.reshape(p["feature.0.bias"], (1, -1, 1, 1)))), (len(X), -1))
    h = ng.relu(ng.linear(h, p["classifier.0.weight"], p["classifier.0.bias"]))
    h = ng.relu(ng.linear(h, p["classifier.2.weight"], p["classifier.2.bias"])).v
    a = np.concatenate([h, np.ones((len(X), 1))], 1)
    sol = np.linalg.lstsq(a, margin * np.eye(K)[Y], rcond=None)[0]
    return sol[:-1].T.copy(), sol[-1].copy()


def _run(tmp_path, step, monkeypatch):
    rs = np.random.RandomState(9)  # weights for which the new attention straddles 0.9, 0.95 and 1 (checked below)
    tr, chan, src, X, Y = _setup(tmp_path, rs)
    n = tr.n
    for m in [*n.values(), tr.e_s, tr.c_s]:
        m.double()
    tr.x = tr.x.double()
    tr.mask = tr.mask.double()
    # fixed weights: E_s, C_s the source (C_s with a fixed K-way head); E_t, C_t near the source with a head
    # fitted for a confident classifier (step 4's CE about 0.02, below the attention gate's 0.05); G, D random
    W = {"e_s": {k: v.double().numpy().copy() for k, v in tr.e_s.state_dict().items()},
         "c_s": {k: v.double().numpy().copy() for k, v in tr.c_s.state_dict().items()}}
    W["c_s"]["classifier.4.weight"] = rs.normal(0, 0.1, (K, 128))
    W["c_s"]["classifier.4.bias"] = rs.normal(0, 0.1, K)
    W["e_t"] = {k: v + rs.normal(0, 0.02, v.shape) for k, v in W["e_s"].items()}
    W["c_t"] = {k: v + rs.normal(0, 0.02 / np.sqrt(v[0].size if v.ndim > 1 else 1), v.shape)
                for k, v in W["c_s"].items()}
    W["c_t"]["classifier.4.weight"], W["c_t"]["classifier.4.bias"] = _fit_head(W["e_t"], W["c_t"], X, Y, 4.6)
    W["g"] = _normal_weights({k: tuple(v.shape) for k, v in n["g"].state_dict().items()
                              if not k.endswith("num_batches_tracked")}, rs)
    W["d"] = _normal_weights({k: tuple(v.shape) for k, v in n["d"].state_dict().items()}, rs)
    for key, mod in (("e_s", tr.e_s), ("c_s", tr.c_s), *((k, n[k]) for k in ("e_t", "c_t", "g", "d"))):
        sd = {k: torch.from_numpy(np.asarray(v, dtype=np.float64)) for k, v in W[key].items()}
        sd.update({k: torch.tensor(0) for k in mod.state_dict() if k.endswith("num_batches_tracked")})
        mod.load_state_dict(sd)
    states = {}
    for key in ("e_t", "c_t", "g", "d"):
        shapes = {k: tuple(p.shape) for k, p in n[key].named_parameters()}
        states[key] = _adam_state(shapes, rs)
        params = dict(n[key].named_parameters())
        by_obj = {id(p): k for k, p in params.items()}
        for p in tr.opt[key].param_groups[0]["params"]:
            m, v, t = states[key][by_obj[id(p)]] if id(p) in by_obj else (np.zeros(p.shape), np.zeros(p.shape), 7)
            tr.opt[key].state[p] = {"step": torch.tensor(float(t)), "exp_avg": torch.from_numpy(m.copy()),
                                    "exp_avg_sq": torch.from_numpy(v.copy())}
    stats = {k: (W["g"][k + ".running_mean"].copy(), W["g"][k + ".running_var"].copy(), 0)
             for k in ("dense.1", "model.1", "model.4", "model.8")}
    queue = [q.numpy().copy() for q in tr.queue]
    # record the port's random draws, in order
    draws = {"z": [], "y": [], "alpha": [], "perm": []}
    for name in ("rand", "randint", "randperm"):
        orig = getattr(torch, name)

        def rec(*a, _orig=orig, _name=name, **k):
            out = _orig(*a, **k)
            kind = {"randint": "y", "randperm": "perm"}.get(_name) or ("z" if out.dim() == 2 else "alpha")
            draws[kind].append(out.numpy().astype(np.int64 if kind in ("y", "perm") else np.float64))
            return out
        monkeypatch.setattr(torch, name, rec)
    out = tr.iteration(step)
    monkeypatch.undo()
    W0 = {k: {n_: np.asarray(v, dtype=np.float64).copy() for n_, v in W[k].items()} for k in W}
    ref, new, mask = reference_iteration(step, W0, stats, states, chan, X, Y, queue, draws)
    return tr, out, ref, W, new, mask, stats


def _compare(tr, out, ref, W, new, mask, stats):
    for k, v in out.items():
        # rel 1e-7: the channel weights softmax(zscore / 5) are float32 (train.py L919-920)
        assert v == pytest.approx(ref[k], rel=1e-7, abs=1e-10), k
    assert set(out) == set(ref) - {"a_new"}
    for key in ("e_t", "c_t", "g", "d"):
        for k, p in tr.n[key].named_parameters():
            # the update, not the weight (a wrong update of size lr hides under a weight of size 1); atol 1e-11
            # = 1e-7 lr: the channel weights are float32 in the port, as in the original (train.py L919-920)
            np.testing.assert_allclose(p.detach().numpy() - W[key][k], new[key][k] - W[key][k], rtol=1e-6,
                                       atol=1e-11, err_msg=f"{key}.{k}")
    for key, mod in (("e_s", tr.e_s), ("c_s", tr.c_s)):  # the source copies stay frozen
        for k, p in mod.state_dict().items():
            np.testing.assert_array_equal(p.numpy(), W[key][k])
    sd = tr.n["g"].state_dict()
    for name, (rm, rv, nb) in stats.items():
        np.testing.assert_allclose(sd[name + ".running_mean"].numpy(), rm, rtol=1e-8, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(sd[name + ".running_var"].numpy(), rv, rtol=1e-8, atol=1e-12, err_msg=name)
        assert int(sd[name + ".num_batches_tracked"]) == nb, name
    np.testing.assert_allclose(tr.mask.numpy(), mask, rtol=1e-9, atol=1e-12)


def test_reference_iteration_with_classifier_step_and_attention_update(tmp_path, monkeypatch):
    """Step 2000: all six parts, the e_loss gate open, a new mask."""
    tr, out, ref, W, new, mask, stats = _run(tmp_path, 2000, monkeypatch)
    assert 0.01 < ref["e_loss"] < E_LOSS_FOR_6 and "c_loss" in ref
    assert stats["dense.1"][2] == NUM_D_ITERS + 3  # G called by the critic steps, steps 2, 3 and 5
    a = ref["a_new"] * C_E  # the new attention sits on both sides of the thresholds, so a changed one shows
    assert ((a >= 0.9) & (a < 0.95)).any() and ((a >= 0.95) & (a < 1.0)).any() and (a < 0.9).any()
    init = np.asarray(tr.chan["generator_attention"]) * C_E
    assert ((init >= 0.85) & (init < 0.9)).any() and ((init >= 0.9) & (init < 0.95)).any()
    assert not np.array_equal(mask, np.where(init >= 0.9, init / C_E, 0.0))
    _compare(tr, out, ref, W, new, mask, stats)
    assert tr.state["attention_updates"][-1]["step"] == 2000


def test_reference_iteration_without_the_periodic_parts(tmp_path, monkeypatch):
    """Step 7: the critic, G and the E_t/C_t step only; the mask stays the initial one."""
    tr, out, ref, W, new, mask, stats = _run(tmp_path, 7, monkeypatch)
    assert "c_loss" not in ref and stats["dense.1"][2] == NUM_D_ITERS + 2
    _compare(tr, out, ref, W, new, mask, stats)
    assert tr.state["attention_updates"] == []


def test_critic_penalty_gradient_against_finite_differences():
    """The reference's penalty gradient through the linearity identity (step 1 above), against central differences
    of the exact penalty and against its double backward."""
    rs = np.random.RandomState(4)
    d = _normal_weights({"conv.0.weight": (32, C_E, 5, 5), "conv.2.weight": (64, 32, 5, 5),
                         "conv.4.weight": (128, 64, 5, 5), "dense.weight": (1, 512), "dense.bias": (1,)}, rs)

    x_hat = rs.normal(size=(2, C_E, 14, 14))

    def gp(dd):
        xh = ng.V(x_hat)
        u = ng.grad(ng.sum_(critic(vs(dd), xh)), [xh])[0].v.reshape(2, -1) + GP_SHIFT
        return ((np.sqrt((u ** 2).sum(1)) - 1) ** 2).mean(), u
    _, u = gp(d)
    norm = np.sqrt((u ** 2).sum(1))
    v = (2 * (norm - 1) / norm)[:, None] * u / 2
    P = vs(d)
    lin = ng.sum_(critic(P, ng.V(v.reshape(2, C_E, 14, 14)))) - critic(P, ng.V(np.zeros((1, C_E, 14, 14))))[0, 0] * 2
    g = ng.grad(lin, [P["conv.2.weight"], P["dense.weight"]])
    xh = ng.V(x_hat)
    du, = ng.grad(ng.sum_(critic(P, xh)), [xh], create_graph=True)
    u2 = ng.reshape(du, (2, -1)) + GP_SHIFT
    exact = ng.grad(ng.mean(ng.square(ng.sqrt(ng.sum_(ng.square(u2), axis=1)) - 1.0)),
                    [P["conv.2.weight"], P["dense.weight"]])
    for a, b in zip(g, exact):
        np.testing.assert_allclose(a.v, b.v, rtol=1e-7, atol=1e-12 * np.abs(b.v).max())
    for gr, key, idx in ((g[0], "conv.2.weight", (3, 5, 2, 1)), (g[1], "dense.weight", (0, 17))):
        d[key][idx] += 1e-6
        up = gp(d)[0]
        d[key][idx] -= 2e-6
        down = gp(d)[0]
        d[key][idx] += 1e-6
        assert gr.v[idx] == pytest.approx((up - down) / 2e-6, rel=1e-4, abs=1e-9), key
