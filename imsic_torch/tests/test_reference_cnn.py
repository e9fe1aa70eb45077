"""The classifiers' training updates recomputed in plain NumPy and compared with the port's real code: the CNN
stage (``Run.cnn``, real + synthetic images) and the category map's real-data classifier
(``category_map.train_classifier``); the category map's score matrix (``category_map.mean_probabilities``).

The CNN stage is ``train_cnn.py`` of the original (fudonglin/IMSIC@649abbd): ``net.py``'s ConvNet (conv 5x5 1->32
pad 2, ReLU, max-pool; conv 5x5 32->64 pad 2, ReLU, max-pool; Dropout(0.5); Linear 4096->1000 without an
activation; Linear 1000->10; net.py L5-29), ``CrossEntropyLoss`` on its logits (train_cnn.py L45, L64), Adam with
the learning rate ``--cnn_lr`` 1e-4 (params.py L15) and PyTorch's default betas and eps (train_cnn.py L46),
sequential batches over the shuffled training set (train_cnn.py L55-60): per class its real images then its
synthetic ones, shuffled once by ``utils.shuffle`` (utils.py L281-286: numpy seeded 32, the same permutation for
images and labels). The category map's classifier is a project construction (``imsic/category_map.py``): the same
ConvNet, loss and optimiser on the real subset, one ``RandomState([seed, 7])`` permutation per epoch.

Fixed weights (float64) and fixed Adam moments (7 steps taken: an update then depends on the gradient's size, not
only on its sign) are put into the networks and optimisers that the port itself builds; the hyper-parameters stay
the port's. The dropout masks are drawn by torch: the test records them from the port's forward. Two updates each;
gradients from ``shared_data.testing.npgrad``.
"""
from __future__ import annotations

import types

import numpy as np
import pytest
import torch
from shared_data.testing import npgrad as ng, references

import run as imsic_run
from imsic import category_map, io, pipeline
from imsic import data as D
from imsic.nets import ConvNet

# ---- the original's constants ------------------------------------------------------------------------------
CNN_LR = 1e-4  # --cnn_lr (params.py L15)
BETAS, ADAM_EPS = (0.9, 0.999), 1e-8  # torch.optim.Adam(model.parameters(), lr=learning_rate) (train_cnn.py L46)
DROP_KEEP = 0.5  # nn.Dropout() (net.py L16): p = 0.5
SHUFFLE_SEED = 32  # utils.shuffle
B, STEPS = 6, 2


# ---- the reference network ----------------------------------------------------------------------------------
def convnet(p, x, keep):
    """net.py L22-29; ``keep``: the dropout's keep mask of this call (scaled by 1 / (1 - p))."""
    h = ng.maxpool2(ng.relu(ng.conv2d(x, p["layer1.0.weight"], 1, 2) + ng.reshape(p["layer1.0.bias"], (1, -1, 1, 1))))
    h = ng.maxpool2(ng.relu(ng.conv2d(h, p["layer2.0.weight"], 1, 2) + ng.reshape(p["layer2.0.bias"], (1, -1, 1, 1))))
    h = ng.reshape(h, (h.shape[0], -1)) * ng.V(keep / DROP_KEEP)
    return ng.linear(ng.linear(h, p["fc1.weight"], p["fc1.bias"]), p["fc2.weight"], p["fc2.bias"])


def reference_updates(W, states, x, y, keeps):
    """One Adam step per batch of ``x``/``y`` (lists), CE on the logits. Returns the logits, the losses and the
    weights after each step."""
    logits, losses, after = [], [], []
    for xb, yb, keep in zip(x, y, keeps):
        P = {k: ng.V(v) for k, v in W.items()}
        out = convnet(P, ng.V(xb), keep)
        loss = ng.cross_entropy(out, yb)
        grads = ng.grad(loss, list(P.values()))
        W = dict(W)
        for (k, _), g in zip(P.items(), grads):
            W[k], states[k] = references.torch_adam(W[k], g.v, states[k], CNN_LR, BETAS, ADAM_EPS)
        logits.append(out.v)
        losses.append(float(loss.v))
        after.append(W)
    return logits, losses, after


# ---- fixed weights and moments in the port's own network and optimiser ------------------------------------------
def _fixed(rs):
    shapes = {k: tuple(v.shape) for k, v in ConvNet(10).named_parameters()}
    w = {}
    for k, shp in shapes.items():
        fan_in = int(np.prod(shp[1:])) if len(shp) > 1 else 1
        w[k] = rs.normal(0, 0.1, shp) if k.endswith(".bias") else rs.normal(0, 1.5 / np.sqrt(fan_in), shp)
    moments = {k: (rs.normal(0, 1e-3, s), rs.uniform(0.5, 1.5, s) * 1e-6, 7) for k, s in shapes.items()}
    return w, moments


class _Capture:
    """Patches ConvNet (where ``module`` builds it) and torch.optim.Adam: the network gets the fixed weights in
    float64, the optimiser the fixed moments; records the dropout masks and logits of the training forwards, the
    hyper-parameters the port passes and the weights after every optimiser step."""

    def __init__(self, monkeypatch, module, weights, moments):
        self.masks, self.logits, self.after, self.kwargs, self.nets = [], [], [], [], []
        cap = self
        names = list(weights)

        class FixedConvNet(ConvNet):
            def __init__(self, *a, **k):
                super().__init__(*a, **k)
                self.double().load_state_dict({n: torch.from_numpy(v.copy()) for n, v in weights.items()})
                # the keep mask: where the dropout's output is 0 although its input is not (where the input is 0,
                # the mask changes nothing, nor the gradient: the ReLU before it passes none)
                self.drop_out.register_forward_hook(
                    lambda m, i, o: cap.masks.append((o.detach() != 0).double().numpy()) if m.training else None)
                cap.nets.append(self)

            def forward(self, x):
                out = super().forward(x.double())
                if self.training:
                    cap.logits.append(out.detach().numpy().copy())
                return out

        class PresetAdam(torch.optim.Adam):
            def __init__(self, params, *a, **k):
                super().__init__(params, *a, **k)
                cap.kwargs.append((a, k))
                group = self.param_groups[0]["params"]
                assert len(self.param_groups) == 1 and len(group) == len(names)
                for n, p in zip(names, group):
                    m, v, t = moments[n]
                    self.state[p] = {"step": torch.tensor(float(t)), "exp_avg": torch.from_numpy(m.copy()),
                                     "exp_avg_sq": torch.from_numpy(v.copy())}

            def step(self, *a, **k):
                out = super().step(*a, **k)
                cap.after.append({n: p.detach().numpy().copy() for n, p in cap.nets[-1].named_parameters()})
                return out

        monkeypatch.setattr(module, "ConvNet", FixedConvNet)
        monkeypatch.setattr(torch.optim, "Adam", PresetAdam)


def _compare(cap, W0, logits, after):
    assert len(cap.logits) == len(cap.after) == len(after) == STEPS
    for step, (port, ref) in enumerate(zip(cap.logits, logits)):
        np.testing.assert_allclose(port, ref, rtol=1e-9, atol=1e-12, err_msg=f"step {step}: logits")
    for step, (port, ref) in enumerate(zip(cap.after, after)):
        for k, v in ref.items():
            # the change from the fixed weights: an error of the size of lr hides in a weight of size 1
            np.testing.assert_allclose(port[k] - W0[k], v - W0[k], rtol=1e-7, atol=1e-14, err_msg=f"step {step}: {k}")


def test_reference_cnn_stage_updates_on_real_and_synthetic_images(tmp_path, monkeypatch):
    torch.set_num_threads(1)
    rs = np.random.RandomState(3)
    cfg = dict(imsic_run.configure(imsic_run.parse_args(["--dataset", "mnist", "--budget", "smoke"])), split_seed=0,
               seed=0)  # the port's defaults, fixes included
    cfg.update(batch_size=B, cnn_epochs=1, cnn_steps_per_epoch=STEPS, eval_every=1, device_description="cpu")
    counts = [3, 2, 2, 1, 1, 1, 0, 1, 0, 1]
    y_real = rs.permutation(np.repeat(np.arange(10), counts))
    x_real = rs.randint(0, 256, (len(y_real), 28, 28, 1)).astype(np.uint8)
    split = types.SimpleNamespace(x_train=x_real, y_train=y_real, train_counts=counts, x_test=x_real[:2],
                                  y_test=y_real[:2])
    y_syn = np.repeat(np.arange(10), 1)
    x_syn = np.tanh(rs.normal(0, 1, (len(y_syn), 1, 32, 32))).astype(np.float32)
    torch.manual_seed(11)
    io.save_npz(tmp_path / "synth.npz", x=x_syn, y=y_syn, torch_rng=torch.get_rng_state().numpy())
    logged = []
    record = types.SimpleNamespace(path=tmp_path, checkpoint_dir=tmp_path / "checkpoints",
                                   is_complete=lambda: False, truncate_metrics=lambda keep: None,
                                   log_metrics=logged.append)
    (tmp_path / "checkpoints").mkdir()
    run = pipeline.Run(cfg, split, record, torch.device("cpu"), progress=False)
    run.evaluate = lambda model, x_test, epoch: {"epoch": epoch}
    run.finish = lambda reported: reported
    W0, moments = _fixed(rs)
    cap = _Capture(monkeypatch, pipeline, W0, moments)
    run.cnn()
    assert cap.kwargs == [((), {"lr": cfg["cnn_lr"]})] and cfg["cnn_lr"] == CNN_LR
    # the training set as train_cnn.py builds it: per class the real images, then the synthetic ones; one shuffle
    xr = D.to_model_input(x_real).double().numpy()
    xs, ys, syn = [], [], []
    for c in range(10):
        xs += [xr[y_real == c], x_syn[y_syn == c].astype(np.float64)]
        ys += [y_real[y_real == c], y_syn[y_syn == c]]
        syn += [False] * int((y_real == c).sum()) + [True] * int((y_syn == c).sum())
    perm = np.random.RandomState(SHUFFLE_SEED).permutation(len(syn))
    x_all, y_all, syn = np.concatenate(xs)[perm], np.concatenate(ys)[perm], np.array(syn)[perm]
    batches = [slice(i * B, (i + 1) * B) for i in range(STEPS)]
    assert all(syn[b].any() and (~syn[b]).any() for b in batches)  # real and synthetic images in each batch
    assert len(cap.masks) == STEPS
    states = {k: (m.copy(), v.copy(), t) for k, (m, v, t) in moments.items()}
    logits, losses, after = reference_updates(W0, states, [x_all[b] for b in batches], [y_all[b] for b in batches],
                                              cap.masks)
    _compare(cap, W0, logits, after)
    (rec,) = [r for r in logged if r.get("stage") == "cnn"]
    assert rec["loss"] == pytest.approx(np.mean(losses), rel=1e-9)  # the epoch's mean training loss


def test_reference_category_map_classifier_updates(monkeypatch):
    torch.set_num_threads(1)
    rs = np.random.RandomState(4)
    cfg = dict(imsic_run.configure(imsic_run.parse_args(["--dataset", "mnist", "--budget", "smoke"])), split_seed=0,
               seed=5)
    cfg.update(batch_size=B, map_epochs=1, map_steps_per_epoch=STEPS)
    y = rs.randint(0, 10, 17)
    x = rs.randint(0, 256, (len(y), 28, 28, 1)).astype(np.uint8)
    W0, moments = _fixed(rs)
    cap = _Capture(monkeypatch, category_map, W0, moments)
    model = category_map.train_classifier(cfg, x, y, torch.device("cpu"), progress=False)
    assert not model.training and cap.kwargs == [((), {"lr": CNN_LR})]
    order = np.random.RandomState([cfg["seed"], 7]).permutation(len(y))  # the first epoch's order
    xi = D.to_model_input(x).double().numpy()
    idx = [order[i * B:(i + 1) * B] for i in range(STEPS)]
    assert len(cap.masks) == STEPS
    states = {k: (m.copy(), v.copy(), t) for k, (m, v, t) in moments.items()}
    logits, _, after = reference_updates(W0, states, [xi[i] for i in idx], [y[i] for i in idx], cap.masks)
    _compare(cap, W0, logits, after)


@pytest.mark.parametrize("dataset", ["mnist", "fashion"])
def test_category_map_mean_probabilities_against_numpy(dataset):
    """The map's score matrix: per categorical code, the classifier's softmax probabilities averaged over images that
    G makes with the dataset's generation settings (utils.py: MNIST z ~ N(0, 0.5^2) and every continuous code 0,
    L231, L250; Fashion-MNIST z ~ N(0, 0.2^2) and code 3 drawn N(0, 1) times 4.9, L404, L408), here from
    ``RandomState([seed, 8])``. G and the classifier are small fixed maps, written once in torch and once in NumPy."""
    rs = np.random.RandomState(6)
    cfg = dict(imsic_run.configure(imsic_run.parse_args(["--dataset", dataset, "--budget", "smoke"])), split_seed=0,
               seed=2)
    cfg["map_samples_per_code"] = n = 7
    z_std, code_std = {"mnist": (0.5, None), "fashion": (0.2, 4.9)}[dataset]
    lat, k, cd = cfg["latent_dim"], cfg["n_classes"], cfg["code_dim"]
    A, Bm, Cm = rs.normal(0, 1, (lat, 4)), rs.normal(0, 1, (k, 4)), rs.normal(0, 1, (cd, 4))
    Wc, bc = rs.normal(0, 1, (4, k)), rs.normal(0, 1, k)
    t = lambda a: torch.from_numpy(a).float()

    def gen(z, label, code):
        return torch.tanh(z @ t(A) + label @ t(Bm) + code @ t(Cm)).reshape(-1, 1, 2, 2)

    def clf(img):
        return img.flatten(1) @ t(Wc) + t(bc)

    got = category_map.mean_probabilities(cfg, gen, clf, torch.device("cpu"))
    draws = np.random.RandomState([cfg["seed"], 8])
    f32 = lambda a: a.astype(np.float32).astype(np.float64)
    ref = np.zeros((k, k))
    for code_index in range(k):
        z = f32(draws.normal(0, z_std, (n, lat)))
        code = np.zeros((n, cd))
        if code_std is not None:
            code[:, 2] = f32(draws.normal(0, 1, n)) * code_std
        logits = np.tanh(z @ A + np.eye(k)[[code_index] * n] @ Bm + code @ Cm) @ Wc + bc
        e = np.exp(logits - logits.max(1, keepdims=True))
        ref[code_index] = (e / e.sum(1, keepdims=True)).mean(0)
    np.testing.assert_allclose(got, ref, rtol=2e-5, atol=1e-7)
