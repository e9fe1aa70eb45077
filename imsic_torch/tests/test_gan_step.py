"""One GAN iteration at the released widths and init under a fixed seed, its losses recomputed in NumPy; the hidden
torch draws of the original's data loaders.

The losses of ``GANTrainer.step`` (``experiment.py`` L55-93, fudonglin/IMSIC@649abbd) are recomputed from the
original's formulas by a plain NumPy forward of ``generator.py`` and ``discriminator.py`` (constants with their
file and line in ``test_reference_step``), on the port's initial weights, the noise re-drawn from
``RandomState(seed)`` in the original's order and the Dropout2d masks recorded from the port's forward. The info loss
is computed with G's and D's weights as the port holds them after its G and D updates: those updates are checked
against an independent reference on narrow nets in ``test_reference_step``.
"""
import numpy as np
import pytest
import torch
from test_reference_step import BN_EPS, BN_EPS_FIRST, DROP_P, FAKE, LAMBDA_CAT, NEGATIVE, POSITIVE, SLOPE, VALID
from torch.utils.data import DataLoader, TensorDataset

from imsic import rng
from imsic.gan import GANTrainer, gan_subset_indices
from shared_data import config

BATCH = 32


def _trainer(**over):
    torch.set_num_threads(1)
    cfg = config.load("configs", "mnist", "smoke")
    cfg.update({"seed": 0, "structure_loss": "hinge", "single_softmax": False, "bn_eps": 0.8, "edges": "code",
                "edges_clip": False}, **over)
    x = np.random.RandomState(1).randint(0, 256, (128, 28, 28, 1)).astype(np.uint8)
    return GANTrainer(cfg, torch.device("cpu"), x_real=x, progress=False)


# ---- a NumPy forward of the released networks (float64) ------------------------------------------------------
def _conv(x, w, b, stride, pad):
    """Cross-correlation, NCHW, as a sum over the k x k filter taps of (rows x C_in) @ (C_in x C_out) products."""
    n, _, h, wd = x.shape
    o, _, k, _ = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad))).transpose(0, 2, 3, 1)
    oh, ow = (h + 2 * pad - k) // stride + 1, (wd + 2 * pad - k) // stride + 1
    out = np.zeros((n * oh * ow, o))
    for a in range(k):
        for c in range(k):
            tap = xp[:, a:a + stride * (oh - 1) + 1:stride, c:c + stride * (ow - 1) + 1:stride, :]
            out += np.ascontiguousarray(tap).reshape(-1, tap.shape[-1]) @ w[:, :, a, c].T
    return out.reshape(n, oh, ow, o).transpose(0, 3, 1, 2) + b[None, :, None, None]


def _bn(x, p, name, eps):
    """Training-mode BatchNorm2d: batch mean and biased batch variance."""
    mu = x.mean((0, 2, 3), keepdims=True)
    var = ((x - mu) ** 2).mean((0, 2, 3), keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * p[name + ".weight"][None, :, None, None] + \
        p[name + ".bias"][None, :, None, None]


def _lrelu(x):
    return np.where(x > 0, x, SLOPE * x)


def _up(x):
    return x.repeat(2, axis=2).repeat(2, axis=3)


def generator(p, z, onehot, code):
    """generator.py L11-35 at the released widths (128 x 8 x 8, 128, 64)."""
    x = np.concatenate([z, onehot, code], 1) @ p["l1.0.weight"].T + p["l1.0.bias"]
    w0 = p["conv_blocks.0.weight"].shape[0]
    s = int(round(np.sqrt(x.shape[1] / w0)))
    x = _up(_bn(x.reshape(len(x), w0, s, s), p, "conv_blocks.0", BN_EPS_FIRST))
    x = _lrelu(_bn(_conv(x, p["conv_blocks.2.weight"], p["conv_blocks.2.bias"], 1, 1), p, "conv_blocks.3", BN_EPS))
    x = _up(x)
    x = _lrelu(_bn(_conv(x, p["conv_blocks.6.weight"], p["conv_blocks.6.bias"], 1, 1), p, "conv_blocks.7", BN_EPS))
    return np.tanh(_conv(x, p["conv_blocks.9.weight"], p["conv_blocks.9.bias"], 1, 1))


def discriminator(p, img, masks, single_softmax=False):
    """discriminator.py L7-36: four blocks conv(3, 2, 1), LeakyReLU(0.2), Dropout2d(0.25) (the recorded channel
    masks), BatchNorm(eps 0.8) after the last three; the adversarial score, the class head (softmax, L26) and the
    latent head."""
    x = img
    for k, (conv, bn) in enumerate((("conv_blocks.0", None), ("conv_blocks.3", "conv_blocks.6"),
                                     ("conv_blocks.7", "conv_blocks.10"), ("conv_blocks.11", "conv_blocks.14"))):
        x = _lrelu(_conv(x, p[conv + ".weight"], p[conv + ".bias"], 2, 1)) * masks[k][:, :, None, None] / (1 - DROP_P)
        if bn:
            x = _bn(x, p, bn, BN_EPS)
    x = x.reshape(len(x), -1)
    adv = x @ p["adv_layer.0.weight"].T + p["adv_layer.0.bias"]
    cls = x @ p["aux_layer.0.weight"].T + p["aux_layer.0.bias"]
    if not single_softmax:
        e = np.exp(cls - cls.max(1, keepdims=True))
        cls = e / e.sum(1, keepdims=True)
    code = x @ p["latent_layer.0.weight"].T + p["latent_layer.0.bias"]
    return adv, cls, code


def _cross_entropy(scores, labels):
    """nn.CrossEntropyLoss: log-softmax of what it is given (the class head's probabilities, utils.py L47)."""
    s = scores - scores.max(1, keepdims=True)
    logp = s - np.log(np.exp(s).sum(1, keepdims=True))
    return -logp[np.arange(len(labels)), labels].mean()


def _structure_terms(code, pred):
    """utils.py L121-139: Σpositive, Σnegative, Σ_{i<=j} MSE(pred_i, c_j)."""
    m = lambda i, j: ((pred[:, j] - code[:, i]) ** 2).mean()
    d = pred.shape[1]
    return (sum(m(i, j) for i, j in POSITIVE), sum(m(i, j) for i, j in NEGATIVE),
            sum(((pred[:, i] - code[:, j]) ** 2).mean() for i in range(d) for j in range(i, d)))


def _state(net):
    """The parameters (the BatchNorm layers run on batch statistics in training mode)."""
    return {k: v.detach().double().numpy().copy() for k, v in net.named_parameters()}


@pytest.mark.parametrize("single_softmax", [False, True])
def test_one_gan_step_at_the_released_widths_against_numpy(single_softmax):
    t = _trainer(single_softmax=single_softmax)
    cfg = t.cfg
    assert (cfg["latent_dim"], cfg["n_classes"], cfg["code_dim"], cfg["img_size"]) == (62, 10, 4, 32)
    g0, d0 = _state(t.g), _state(t.d)
    # what each network holds when it is called (G twice, D four times), and D's dropout masks per call
    held = {"g": [], "d": []}
    t.g.register_forward_pre_hook(lambda m, i: held["g"].append(_state(m)))
    t.d.register_forward_pre_hook(lambda m, i: held["d"].append(_state(m)))
    masks = []
    for m in t.d.modules():
        if isinstance(m, torch.nn.Dropout2d):
            m.register_forward_hook(lambda mod, i, o: masks.append((o.detach().flatten(2) != 0).any(2).double()
                                                                   .numpy()))
    real = t.x[:BATCH]
    out = t.step(real)
    assert len(held["g"]) == 2 and len(held["d"]) == 4 and len(masks) == 16
    masks = [masks[4 * i:4 * i + 4] for i in range(4)]
    for k, v in g0.items():  # the G step and the D step see the initial weights
        np.testing.assert_array_equal(held["g"][0][k], v)
    for j in (0, 1, 2):
        for k, v in d0.items():
            np.testing.assert_array_equal(held["d"][j][k], v)
    # the noise in the original's order (experiment.py L57-60, L79-83), float32 as FloatTensor makes it
    rs = np.random.RandomState(cfg["seed"])
    f32 = lambda a: a.astype(np.float32).astype(np.float64)
    z = f32(rs.normal(0, 1, (BATCH, 62)))
    y = rs.randint(0, 10, BATCH)
    c = f32(rs.uniform(-1, 1, (BATCH, 4)))
    gen = generator(g0, z, np.eye(10)[y], c)
    adv, _, _ = discriminator(d0, gen, masks[0], single_softmax)
    g_loss = ((adv - VALID) ** 2).mean()  # L63-65: MSE(D(G(z)), valid)
    adv_r, _, _ = discriminator(d0, real.double().numpy(), masks[1], single_softmax)
    adv_f, _, _ = discriminator(d0, gen, masks[2], single_softmax)  # L71-73: step 1's images, before G's update
    d_loss = (((adv_r - VALID) ** 2).mean() + ((adv_f - FAKE) ** 2).mean()) / 2
    ys = rs.randint(0, 10, BATCH)
    z2 = f32(rs.normal(0, 1, (BATCH, 62)))
    c2 = f32(rs.uniform(-1, 1, (BATCH, 4)))
    _, cls, pred_code = discriminator(held["d"][3], generator(held["g"][1], z2, np.eye(10)[ys], c2), masks[3],
                                      single_softmax)
    pos, neg, gains2 = _structure_terms(c2, pred_code)
    assert neg + gains2 > pos  # the hinge is closed: the structure loss is 0 and reaches nothing
    info = LAMBDA_CAT * _cross_entropy(cls, ys)
    assert out["g_loss"] == pytest.approx(g_loss, rel=1e-6)
    assert out["d_loss"] == pytest.approx(d_loss, rel=1e-6)
    # the info loss sits within 1e-3 of ln 10 with the double softmax: compared to 1e-6 absolute
    assert out["info_loss"] == pytest.approx(info, rel=0, abs=1e-6)
    assert (abs(info - np.log(10)) < 1e-3) != single_softmax
    assert out["structure_loss"] == 0.0 and out["hinge_open"] is False
    # with the hinge closed nothing depends on the latent head: it keeps its initial weights (as in the shipped
    # Fashion checkpoint); every parameter of G moved
    for k in ("latent_layer.0.weight", "latent_layer.0.bias"):
        np.testing.assert_array_equal(_state(t.d)[k], d0[k])
    assert all(not np.array_equal(p.detach().double().numpy(), g0[k]) for k, p in t.g.named_parameters())


def test_loader_emulation_equals_a_shuffled_dataloader():
    for n in (40, 150, 9000):
        torch.manual_seed(5)
        dl = DataLoader(TensorDataset(torch.arange(n)), batch_size=64, shuffle=True)
        expected = torch.cat([b[0] for b in dl])
        after = torch.rand(3)
        torch.manual_seed(5)
        assert torch.equal(rng.shuffled_loader_order(n), expected)
        assert torch.equal(torch.rand(3), after)  # the global stream is left where the loader leaves it
    torch.manual_seed(5)
    next(iter(DataLoader(TensorDataset(torch.arange(10)), batch_size=10)))
    after = torch.rand(3)
    torch.manual_seed(5)
    rng.loader_iter_draw()
    assert torch.equal(torch.rand(3), after)


def test_gan_subset_is_the_originals_per_class_randperm():
    y = np.random.RandomState(2).randint(0, 10, 2000)
    counts = [50, 40, 30, 20, 10, 9, 8, 7, 6, 5]
    torch.manual_seed(0)
    torch.rand(17)  # stands for G and D initialisation
    got = gan_subset_indices(y, counts)
    torch.manual_seed(0)
    torch.rand(17)
    ref = []
    for c, n in enumerate(counts):  # utils.get_imbalanced_dataset: no re-seeding between classes
        pos = np.flatnonzero(y == c)
        ref.append(pos[torch.randperm(len(pos)).numpy()[:n]])
    np.testing.assert_array_equal(got, np.concatenate(ref))
    assert np.bincount(y[got]).tolist() == counts
