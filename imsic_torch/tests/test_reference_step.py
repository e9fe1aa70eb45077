"""One GAN iteration of the released code, recomputed in plain NumPy and compared with the port's real step.

The reference below is written from the original (fudonglin/IMSIC@649abbd, ``source/``), not from this port: every
constant is the original's value with its file and line, so a changed default in the port fails here. It runs the
three updates of ``experiment.py`` L55-93 (G step, D step, info step over G's and D's parameters with the structure
loss of ``utils.py`` L121-139) on narrow nets (a few channels, 16x16 images, batch 6), from fixed weights, fixed
BatchNorm statistics, a fixed real batch and fixed Adam moments (so that the updates depend on the gradients'
magnitudes, not only on their signs), with gradients from ``shared_data.testing.npgrad`` (a small NumPy autodiff).
The noise is re-drawn from ``RandomState(seed)`` in the original's order (``experiment.py`` L57-60, L79-83); the
Dropout2d masks, drawn from torch's generator, are recorded from the port's forward and injected. The port runs
``GANTrainer.step`` (what ``train_epoch`` calls) in float64 on the same inputs.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from shared_data.testing import npgrad as ng, references

import run as imsic_run
from imsic.gan import GANTrainer

# ---- the original's constants ------------------------------------------------------------------------------
LR, BETAS = 2e-4, (0.5, 0.999)  # params.py L24-26, the three Adams (experiment.py L42-46)
ADAM_EPS = 1e-8  # experiment.py L42-46 passes no eps: PyTorch's default
LAMBDA_CAT, LAMBDA_CON = 1.0, 0.15  # params.py L39-40
BN_EPS_FIRST = 1e-5  # generator.py L17: BatchNorm2d(128), PyTorch's default eps
BN_EPS = 0.8  # generator.py L20, L24 and discriminator.py L14: BatchNorm2d(n, 0.8), the 0.8 lands on eps
BN_MOMENTUM = 0.1  # no momentum argument anywhere: PyTorch's default
SLOPE = 0.2  # LeakyReLU(0.2): generator.py L21, L25; discriminator.py L12
DROP_P = 0.25  # Dropout2d(0.25): discriminator.py L12
VALID, FAKE = 1.0, 0.0  # experiment.py L51-52
POSITIVE = [(0, 0), (1, 1), (2, 2), (0, 3), (1, 3), (2, 3), (3, 3)]  # experiment.py L88
NEGATIVE = [(0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2)]  # experiment.py L87

# ---- narrow sizes (the structure is the original's; only the widths shrink) -------------------------------
LATENT, NCLS, CODE, IMG, B = 5, 4, 4, 16, 6
GW, DW = (6, 5, 4), (3, 4, 5, 6)
SEED = 11
G_BN = {"conv_blocks.0": BN_EPS_FIRST, "conv_blocks.3": BN_EPS, "conv_blocks.7": BN_EPS}
D_BN = {"conv_blocks.6": BN_EPS, "conv_blocks.10": BN_EPS, "conv_blocks.14": BN_EPS}


# ---- the reference networks ---------------------------------------------------------------------------------
def _bn(x, p, stats, name, eps):
    """Training-mode BatchNorm2d: batch statistics (biased variance) normalise; the running statistics move by
    BN_MOMENTUM towards the batch mean and the unbiased batch variance."""
    axes = (0, 2, 3)
    mu = ng.mean(x, axes, keepdims=True)
    d = x - mu
    var = ng.mean(d * d, axes, keepdims=True)
    out = d / ng.sqrt(var + eps) * ng.reshape(p[name + ".weight"], (1, -1, 1, 1)) + \
        ng.reshape(p[name + ".bias"], (1, -1, 1, 1))
    n = x.v.size / x.shape[1]
    rm, rv, nb = stats[name]
    stats[name] = ((1 - BN_MOMENTUM) * rm + BN_MOMENTUM * mu.v.ravel(),
                   (1 - BN_MOMENTUM) * rv + BN_MOMENTUM * var.v.ravel() * n / (n - 1), nb + 1)
    return out


def generator(p, stats, z, onehot, code):
    """generator.py L11-35."""
    x = ng.linear(ng.concat([ng.V(z), ng.V(onehot), ng.V(code)], 1), p["l1.0.weight"], p["l1.0.bias"])
    s = IMG // 4
    x = ng.reshape(x, (x.shape[0], GW[0], s, s))
    x = _bn(x, p, stats, "conv_blocks.0", G_BN["conv_blocks.0"])
    x = ng.upsample2(x)
    x = ng.conv2d(x, p["conv_blocks.2.weight"], 1, 1) + ng.reshape(p["conv_blocks.2.bias"], (1, -1, 1, 1))
    x = ng.leaky_relu(_bn(x, p, stats, "conv_blocks.3", G_BN["conv_blocks.3"]), SLOPE)
    x = ng.upsample2(x)
    x = ng.conv2d(x, p["conv_blocks.6.weight"], 1, 1) + ng.reshape(p["conv_blocks.6.bias"], (1, -1, 1, 1))
    x = ng.leaky_relu(_bn(x, p, stats, "conv_blocks.7", G_BN["conv_blocks.7"]), SLOPE)
    x = ng.conv2d(x, p["conv_blocks.9.weight"], 1, 1) + ng.reshape(p["conv_blocks.9.bias"], (1, -1, 1, 1))
    return ng.tanh(x)


def discriminator(p, stats, img, masks):
    """discriminator.py L7-36: four blocks conv(3, 2, 1) -> LeakyReLU -> Dropout2d (-> BN), three heads; the
    class head ends in Softmax (L26). ``masks``: the four per-channel keep masks of this call."""
    x = img
    for k, (conv, bn) in enumerate((("conv_blocks.0", None), ("conv_blocks.3", "conv_blocks.6"),
                                     ("conv_blocks.7", "conv_blocks.10"), ("conv_blocks.11", "conv_blocks.14"))):
        x = ng.conv2d(x, p[conv + ".weight"], 2, 1) + ng.reshape(p[conv + ".bias"], (1, -1, 1, 1))
        x = ng.leaky_relu(x, SLOPE)
        x = x * (masks[k][:, :, None, None] / (1 - DROP_P))
        if bn:
            x = _bn(x, p, stats, bn, D_BN[bn])
    x = ng.reshape(x, (x.shape[0], -1))
    adv = ng.linear(x, p["adv_layer.0.weight"], p["adv_layer.0.bias"])
    probs = ng.softmax(ng.linear(x, p["aux_layer.0.weight"], p["aux_layer.0.bias"]))
    code = ng.linear(x, p["latent_layer.0.weight"], p["latent_layer.0.bias"])
    return adv, probs, code


def structure_loss(code, pred):
    """utils.py L121-139: m(i -> j) = MSE(pred[:, j], code[:, i]); 0 (an int, no gradient) when
    Σnegative + Σgains2 > Σpositive, else Σpositive − Σnegative − Σgains2."""
    m = lambda i, j: ng.mse(pred[:, j], ng.V(code[:, i]))
    losses = [m(i, j) for i, j in POSITIVE]
    gains = [m(i, j) for i, j in NEGATIVE]
    gains2 = [ng.mse(pred[:, i], ng.V(code[:, j])) for i in range(CODE) for j in range(i, CODE)]
    pos, neg, g2 = sum(losses[1:], losses[0]), sum(gains[1:], gains[0]), sum(gains2[1:], gains2[0])
    if neg.v + g2.v > pos.v:
        return None
    return pos - neg - g2


def adam(params, grads, state):
    """torch.optim.Adam's update (bias-corrected moments, eps added to the corrected root) with the gradients
    (``npgrad`` values); a parameter the loss does not reach gets a zero gradient, as the original's
    ``zero_grad()`` (PyTorch 1.7) left it."""
    out = {}
    for k, p in params.items():
        out[k], state[k] = references.torch_adam(p, grads[k].v, state[k], LR, BETAS, ADAM_EPS)
    return out


def reference_step(gp, dp, stats, adam_states, real, masks, seed):
    """experiment.py L55-93 for one batch. Returns losses, new G and D parameters, running statistics."""
    rs = np.random.RandomState(seed)  # experiment.py L13: np.random.seed; nothing else draws before step 1
    f32 = lambda a: a.astype(np.float32).astype(np.float64)  # FloatTensor(...) of the numpy draws
    onehot = lambda y: np.eye(NCLS)[y]
    # 1. G: z, labels, codes (L57-60); MSE(D(G(z)), valid)
    z = f32(rs.normal(0, 1, (B, LATENT)))
    y = rs.randint(0, NCLS, B)
    c = f32(rs.uniform(-1, 1, (B, CODE)))
    G = {k: ng.V(v) for k, v in gp.items()}
    D = {k: ng.V(v) for k, v in dp.items()}
    gen = generator(G, stats, z, onehot(y), c)
    adv, _, _ = discriminator(D, stats, gen, masks[0])
    g_loss = ng.mse(adv, ng.V(np.full((B, 1), VALID)))
    grads = dict(zip(G, ng.grad(g_loss, list(G.values()))))
    gp = adam(gp, grads, adam_states["g"])
    # 2. D on the real batch and on step 1's images, detached (L67-75)
    D = {k: ng.V(v) for k, v in dp.items()}
    adv_r, _, _ = discriminator(D, stats, ng.V(real), masks[1])
    adv_f, _, _ = discriminator(D, stats, ng.const(gen), masks[2])
    d_loss = (ng.mse(adv_r, ng.V(np.full((B, 1), VALID))) + ng.mse(adv_f, ng.V(np.full((B, 1), FAKE)))) * 0.5
    grads = dict(zip(D, ng.grad(d_loss, list(D.values()))))
    dp = adam(dp, grads, adam_states["d"])
    # 3. info: labels, then z, then codes (L79-83), through the updated G and D; one Adam over both (L44-46)
    ys = rs.randint(0, NCLS, B)
    z2 = f32(rs.normal(0, 1, (B, LATENT)))
    c2 = f32(rs.uniform(-1, 1, (B, CODE)))
    G = {k: ng.V(v) for k, v in gp.items()}
    D = {k: ng.V(v) for k, v in dp.items()}
    _, probs, pred_code = discriminator(D, stats, generator(G, stats, z2, onehot(ys), c2), masks[3])
    s = structure_loss(c2, pred_code)
    ce = ng.cross_entropy(probs, ys)  # CrossEntropyLoss on the softmax probabilities (utils.py L47, L91)
    info = ce * LAMBDA_CAT if s is None else ce * LAMBDA_CAT + s * LAMBDA_CON
    leaves = {**{"g." + k: v for k, v in G.items()}, **{"d." + k: v for k, v in D.items()}}
    grads = dict(zip(leaves, ng.grad(info, list(leaves.values()))))
    both = adam({**{"g." + k: v for k, v in gp.items()}, **{"d." + k: v for k, v in dp.items()}}, grads,
                adam_states["info"])
    gp = {k: both["g." + k] for k in gp}
    dp = {k: both["d." + k] for k in dp}
    return {"g_loss": float(g_loss.v), "d_loss": float(d_loss.v), "info_loss": float(info.v),
            "structure_loss": 0.0 if s is None else float(s.v), "hinge_open": s is not None}, gp, dp


# ---- fixed inputs -------------------------------------------------------------------------------------------
def _fixed_weights(shapes, rs, latent_bias=None):
    """Weights of a moderate scale (the images and the BN inputs stay well inside their ranges)."""
    out = {}
    for k, shp in shapes.items():
        fan_in = int(np.prod(shp[1:])) if len(shp) > 1 else 1
        if k.endswith("running_mean"):
            out[k] = rs.normal(0, 0.1, shp)
        elif k.endswith("running_var"):
            out[k] = rs.uniform(0.5, 1.5, shp)
        elif len(shp) == 1 and k.endswith(".weight"):  # BN scale
            out[k] = 1 + rs.normal(0, 0.1, shp)
        elif k.endswith(".bias"):
            out[k] = rs.normal(0, 0.1, shp)
        else:
            out[k] = rs.normal(0, 1.0 / np.sqrt(fan_in), shp)
    if latent_bias is not None:
        out["latent_layer.0.bias"] = out["latent_layer.0.bias"] + latent_bias
    return out


def _adam_state(names, rs, zero=()):
    """Moments of an optimiser some steps in: m ~ N(0, 1e-3^2), v ~ U(0.5, 1.5) 1e-6, 7 steps taken. ``zero``:
    the parameters that this optimiser never sees a gradient for (their moments stay 0 in a real run)."""
    st = {}
    for k, shp in names.items():
        if any(k.startswith(z) for z in zero):
            st[k] = (np.zeros(shp), np.zeros(shp), 7)
        else:
            st[k] = (rs.normal(0, 1e-3, shp), rs.uniform(0.5, 1.5, shp) * 1e-6, 7)
    return st


def _trainer():
    torch.set_num_threads(1)
    args = imsic_run.parse_args(["--dataset", "mnist", "--budget", "smoke"])
    cfg = dict(imsic_run.configure(args), split_seed=0, seed=SEED)  # the port's defaults, fixes included
    cfg.update(latent_dim=LATENT, n_classes=NCLS, img_size=IMG, g_widths=GW, d_widths=DW)
    x = np.zeros((B, 28, 28, 1), dtype=np.uint8)  # unused: the test passes the real batch to step()
    t = GANTrainer(cfg, torch.device("cpu"), x_real=x, progress=False)
    t.g.double()
    t.d.double()
    return t


def _run_case(latent_bias=None, info_zero=("adv_layer.", "latent_layer.")):
    rs = np.random.RandomState(2021)
    t = _trainer()
    g_shapes = {k: tuple(v.shape) for k, v in t.g.state_dict().items() if not k.endswith("num_batches_tracked")}
    d_shapes = {k: tuple(v.shape) for k, v in t.d.state_dict().items() if not k.endswith("num_batches_tracked")}
    gw, dw = _fixed_weights(g_shapes, rs), _fixed_weights(d_shapes, rs, latent_bias)
    real = np.tanh(rs.normal(0, 1.0, (B, 1, IMG, IMG)))
    t.g.load_state_dict({**{k: torch.from_numpy(v) for k, v in gw.items()},
                         **{k: torch.tensor(0) for k in t.g.state_dict() if k.endswith("num_batches_tracked")}})
    t.d.load_state_dict({**{k: torch.from_numpy(v) for k, v in dw.items()},
                         **{k: torch.tensor(0) for k in t.d.state_dict() if k.endswith("num_batches_tracked")}})
    g_names = {k: tuple(p.shape) for k, p in t.g.named_parameters()}
    d_names = {k: tuple(p.shape) for k, p in t.d.named_parameters()}
    states = {"g": _adam_state(g_names, rs),
              "d": _adam_state(d_names, rs, zero=("aux_layer.", "latent_layer.")),
              "info": _adam_state({**{"g." + k: s for k, s in g_names.items()},
                                   **{"d." + k: s for k, s in d_names.items()}}, rs,
                                  zero=tuple("d." + z for z in info_zero))}
    # the same moments in the port's three optimisers (each keyed by the parameter object it holds)
    by_obj = {**{id(p): ("g", k) for k, p in t.g.named_parameters()}, **{id(p): ("d", k) for k, p in t.d.named_parameters()}}
    for name, opt in (("g", t.opt_g), ("d", t.opt_d), ("info", t.opt_info)):
        for p in opt.param_groups[0]["params"]:
            net, k = by_obj[id(p)]
            m, v, step = states[name][k if name != "info" else f"{net}.{k}"] if (
                name == "info" or name == net) else (np.zeros(p.shape), np.zeros(p.shape), 7)
            opt.state[p] = {"step": torch.tensor(float(step)), "exp_avg": torch.from_numpy(m.copy()),
                            "exp_avg_sq": torch.from_numpy(v.copy())}
    # record the Dropout2d masks the port draws: a channel is kept where its output is not all zero
    masks = []
    hooks = [m.register_forward_hook(lambda mod, i, o: masks.append((o.detach().flatten(2) != 0).any(2).double()
                                                                     .numpy()))
             for m in t.d.modules() if isinstance(m, torch.nn.Dropout2d)]
    out = t.step(torch.from_numpy(real))
    for h in hooks:
        h.remove()
    assert len(masks) == 16, "four discriminator calls of four dropout layers each"
    masks = [masks[4 * i:4 * i + 4] for i in range(4)]
    stats = {k: (np.asarray(gw[k + ".running_mean"]), np.asarray(gw[k + ".running_var"]), 0) for k in G_BN}
    stats.update({k: (np.asarray(dw[k + ".running_mean"]), np.asarray(dw[k + ".running_var"]), 0) for k in D_BN})
    ref, gp, dp = reference_step({k: gw[k] for k in g_names}, {k: dw[k] for k in d_names}, stats, states, real,
                                 masks, SEED)
    return t, out, ref, (gw, gp), (dw, dp), stats


def _compare(t, out, ref, g, d, stats):
    for k in ("g_loss", "d_loss", "info_loss", "structure_loss"):
        assert out[k] == pytest.approx(ref[k], rel=1e-9, abs=1e-12), k
    assert out["hinge_open"] == ref["hinge_open"]
    for (w0, w1), net in ((g, t.g), (d, t.d)):
        for k, p in net.named_parameters():
            # the update, not the weight: a wrong update of size lr hides under a weight of size 1
            np.testing.assert_allclose(p.detach().numpy() - w0[k], w1[k] - w0[k], rtol=1e-7, atol=1e-13,
                                       err_msg=k)
    sd = {**{k: v for k, v in t.g.state_dict().items()}, **{k: v for k, v in t.d.state_dict().items()}}
    for name, (rm, rv, nb) in stats.items():
        np.testing.assert_allclose(sd[name + ".running_mean"].numpy(), rm, rtol=1e-9, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(sd[name + ".running_var"].numpy(), rv, rtol=1e-9, atol=1e-12, err_msg=name)
        assert int(sd[name + ".num_batches_tracked"]) == nb, name


def test_reference_step_hinge_closed():
    """Typical weights: the structure hinge stays closed, the latent head gets no gradient and keeps its
    weights; every other parameter, loss and BatchNorm statistic as the reference computes them."""
    t, out, ref, g, d, stats = _run_case()
    assert not ref["hinge_open"]
    _compare(t, out, ref, g, d, stats)
    lat = dict(t.d.named_parameters())["latent_layer.0.weight"].detach().numpy()
    np.testing.assert_array_equal(lat, d[0]["latent_layer.0.weight"])
    assert stats["conv_blocks.0"][2] == 2 and stats["conv_blocks.6"][2] == 4  # G called twice, D four times


def test_reference_step_hinge_open():
    """A large predicted code 3 opens the hinge: the structure loss (self-edges cancelling, the negative terms
    subtracted) reaches the latent head, D's trunk and G through λ_con."""
    t, out, ref, g, d, stats = _run_case(latent_bias=np.array([0.0, 0.0, 0.0, 6.0]), info_zero=("adv_layer.",))
    assert ref["hinge_open"] and ref["structure_loss"] > 1.0
    _compare(t, out, ref, g, d, stats)
    lat = dict(t.d.named_parameters())["latent_layer.0.weight"].detach().numpy()
    assert np.abs(lat - d[0]["latent_layer.0.weight"]).max() > 1e-5

