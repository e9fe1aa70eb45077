"""The GAMO three-player game as pure functions over explicit state, compiled once per shape.

One iteration (``dense_gamo_main.py`` L103-130 / ``fashion_mnist_gamo_main.py`` L102-130), 22 weight updates
for 10 classes, in this order, each an Adam step on the shared counter:

 1. M on the real batch, one-hot targets;                               (update 1)
 2. D on (real x, real one-hot), target 1 - U(0, 0.1);                   (update 2)
 3. a fake batch of the same size: labels only from minority classes, P(i) ~ N_max - N_i; the cTMU in
    inference mode (BN moving averages); each row through the IGU of its class;
 4. M on (fake x, fake one-hot);                                          (update 3)
 5. D on (fake x, fake one-hot), target U(0, 0.1);                        (update 4)
 6. for each minority class i: G->M_i on 4 samples, target 1 - one-hot(i), then G->D_i, target 1; both
    update the cTMU (BN in training mode on the 4 samples) and IGU_i only, through frozen M and D.
                                                                           (updates 5..22)

Freezing is by construction: an update differentiates only its own player's parameters, the others enter as
constants (the tests check it). The state is a dict of plain arrays:

    {"p": {"C": cTMU trainables, "Cn": cTMU BN moving statistics, "Cb": {call site: its zero-debiasing
           variables}, "I": [[kernel, bias] per IGU], "M": [...], "D": [...], "F": [...] (conv variant)},
     "o": {"t": {counter: scalar}, "m": {"owner/group": [...]}, "v": {...}}}

Adam owners (``separate_optimizers`` in fixes.py): the original compiles M, D, conv_mlp (F through frozen M) and, per minority class,
G->M_i and G->D_i, all on ONE Adam object: one counter, a moment set per compiled model. So the shared cTMU
has 18 moment sets ("GM0/C", "GD0/C", ...). With ``separate_optimizers`` the owners are the players M, D, G,
F, each with its own counter and one moment set per parameter.

BatchNorm call sites: Keras 2.2 on TensorFlow 1 keeps zero-debiasing shadow variables per call of the cTMU's BN
layers, i.e. per compiled composite G->M_i, G->D_i (``nets.Keras2BatchNorm``); each G update overwrites the
shared moving statistics with its own composite's debiased average. ``Cb`` holds those per-composite variables
(keys "GM0", "GD0", ...), so the statistics the fakes are made with (step 3) are those of the last composite
trained in the previous iteration, G->D of the last minority class.

Random numbers: one noise batch per minority class and iteration serves both its G->M and its G->D update
(``dense_gamo_main.py`` L127-130 draws ``randNoise`` once for the two ``train_on_batch`` calls).
"""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from . import backend, nets
from .adam import AdamConfig, adam_update
from .config import GamoConfig


def _row_mean(per_row, mask=None):
    """Mean over the batch; with ``mask`` (1 = real row, 0 = padding) the mean over the real rows only, so a
    short batch padded to the full size has exactly the loss and gradients of the short batch."""
    if mask is None:
        return ops.mean(per_row)
    return ops.sum(per_row * mask) / ops.sum(mask)


def mse(pred, target, mask=None):
    """Keras' mean_squared_error: mean over the last axis, then over the batch."""
    return _row_mean(ops.mean(ops.square(pred - target), axis=-1), mask)


def categorical_ce(prob, target, mask=None, eps=1e-7):
    """Keras 2's categorical_crossentropy on probabilities (clipped), mean over the batch."""
    p = ops.clip(prob, eps, 1.0 - eps)
    return _row_mean(-ops.sum(target * ops.log(p), axis=-1), mask)


def binary_ce(prob, target, mask=None, eps=1e-7):
    p = ops.clip(prob, eps, 1.0 - eps)
    return _row_mean(ops.mean(-(target * ops.log(p) + (1.0 - target) * ops.log(1.0 - p)), axis=-1), mask)


class Game:
    """The players (Keras models used only through ``stateless_call``) and the pure update functions."""

    def __init__(self, cfg: GamoConfig, num_classes: int, minority: list[int], minority_sizes: list[int],
                 sample_dim: int | None = None):
        self.cfg = cfg
        self.C = num_classes
        self.minority = list(minority)
        self.sizes = list(minority_sizes)
        self.offsets = list(np.cumsum([0] + self.sizes[:-1])) if self.sizes else []
        self.segment = np.concatenate([np.full(n, k, np.int32) for k, n in enumerate(self.sizes)]) \
            if self.sizes else np.zeros(0, np.int32)
        self.adam = AdamConfig(cfg.learning_rate, cfg.beta_1, cfg.beta_2, cfg.adam_epsilon)
        self.gen_points = cfg.gen_points(num_classes)
        conv = cfg.variant == "conv"
        self.dim = cfg.feature_dim if conv else int(np.prod(cfg.image_shape))
        if sample_dim is not None and sample_dim != self.dim:
            raise ValueError(f"samples have {sample_dim} features, the networks expect {self.dim}")
        self.M = nets.build_classifier(self.dim, num_classes, cfg.mlp_units, cfg.leaky_slope)
        self.F = nets.build_feature_extractor(cfg.image_shape, cfg.conv_filters, cfg.conv_kernel, cfg.feature_dim,
                                              cfg.leaky_slope) if conv else None
        self.gamo = cfg.model == "gamo"
        if self.gamo:
            self.D = nets.build_discriminator(self.dim, num_classes, cfg.mlp_units, cfg.leaky_slope)
            self.G = nets.build_ctmu(cfg.latent_dim, num_classes, cfg.ctmu_units, cfg.bn_momentum, cfg.bn_epsilon)
            self.IGU = [nets.build_igu(cfg.ctmu_units[-1], n, f"igu{k}") for k, n in enumerate(self.sizes)]
            names = [v.name for v in self.G.non_trainable_variables]
            self._bn_site = [i for i, n in enumerate(names) if n in nets.BN_SITE_VARIABLES]
            self._bn_shared = [i for i, n in enumerate(names) if n not in nets.BN_SITE_VARIABLES]
            self._bn_site_zeros = [np.zeros(tuple(self.G.non_trainable_variables[i].shape), np.float32)
                                   for i in self._bn_site]
            # one BN call site per compiled composite, in the order they are trained
            self.bn_sites = [f"G{kind}{k}" for k in range(len(self.sizes)) for kind in ("M", "D")]
        self.cls_loss = categorical_ce if cfg.cls_loss == "ce" else mse
        self.adv_loss = binary_ce if cfg.adv_loss == "bce" else mse

    # -- state ---------------------------------------------------------------------------------------------------
    def owners(self):
        """(owner, counter, groups) of every slot set: the compiled models of the original or the players."""
        sep = self.cfg.separate_optimizers
        cnt = (lambda player: player) if sep else (lambda player: "shared")
        out = [("M", cnt("M"), ["M"] + (["F"] if self.cfg.joint_feature_training else []))]
        if self.F is not None and not self.cfg.joint_feature_training:
            out.append(("F", cnt("F"), ["F"]))
        if self.gamo:
            out.append(("D", cnt("D"), ["D"]))
            if sep:
                out.append(("G", "G", ["C"] + [f"I{k}" for k in range(len(self.sizes))]))
            else:
                for k in range(len(self.sizes)):
                    out.append((f"GM{k}", "shared", ["C", f"I{k}"]))
                    out.append((f"GD{k}", "shared", ["C", f"I{k}"]))
        return out

    def g_owner(self, kind: str, k: int) -> str:
        return "G" if self.cfg.separate_optimizers else f"{kind}{k}"

    def counter(self, owner: str) -> str:
        if not self.cfg.separate_optimizers:
            return "shared"
        return "G" if owner.startswith("G") else owner

    def initial_state(self) -> dict:
        def vals(vars_):
            return [np.asarray(keras.ops.convert_to_numpy(v.value)) for v in vars_]

        p = {"M": vals(self.M.trainable_variables)}
        if self.F is not None:
            p["F"] = vals(self.F.trainable_variables)
        if self.gamo:
            p["D"] = vals(self.D.trainable_variables)
            p["C"] = vals(self.G.trainable_variables)
            nt = vals(self.G.non_trainable_variables)
            p["Cn"] = [nt[i] for i in self._bn_shared]
            p["Cb"] = {site: [nt[i] for i in self._bn_site] for site in self.bn_sites}
            p["I"] = [vals(m.trainable_variables) for m in self.IGU]
        m, v, t = {}, {}, {}
        for owner, counter, groups in self.owners():
            t[counter] = np.zeros((), np.float32)
            for g in groups:
                m[f"{owner}/{g}"] = [np.zeros_like(a) for a in self.group(p, g)]
                v[f"{owner}/{g}"] = [np.zeros_like(a) for a in self.group(p, g)]
        return {"p": p, "o": {"t": t, "m": m, "v": v}}

    @staticmethod
    def group(p, g):
        return p["I"][int(g[1:])] if g.startswith("I") else p[g]

    @staticmethod
    def _with_group(p, g, value):
        p = dict(p)
        if g.startswith("I"):
            p["I"] = list(p["I"])
            p["I"][int(g[1:])] = value
        else:
            p[g] = value
        return p

    def apply(self, state, owner, groups, grads):
        """Adam step of ``owner``'s slot sets for ``groups``; advances the owner's counter once."""
        o = state["o"]
        counter = self.counter(owner)
        flat_p = [a for g in groups for a in self.group(state["p"], g)]
        flat_g = [a for g in groups for a in grads[g]]
        flat_m = [a for g in groups for a in o["m"][f"{owner}/{g}"]]
        flat_v = [a for g in groups for a in o["v"][f"{owner}/{g}"]]
        new_p, new_m, new_v, t = adam_update(flat_p, flat_g, flat_m, flat_v, o["t"][counter], self.adam)
        p, m, v, i = state["p"], dict(o["m"]), dict(o["v"]), 0
        for g in groups:
            n = len(self.group(state["p"], g))
            p = self._with_group(p, g, new_p[i:i + n])
            m[f"{owner}/{g}"], v[f"{owner}/{g}"] = new_m[i:i + n], new_v[i:i + n]
            i += n
        return {"p": p, "o": {"t": {**o["t"], counter: t}, "m": m, "v": v}}

    # -- forward passes --------------------------------------------------------------------------------------
    def m_prob(self, pM, x):
        return self.M.stateless_call(pM, [], x)[0]

    def d_prob(self, pD, x, c):
        return self.D.stateless_call(pD, [], [x, c])[0]

    def features(self, pF, images):
        return self.F.stateless_call(pF, [], images)[0]

    def ctmu(self, pC, pCn, z, c, training, pSite=None):
        """The cTMU; ``pSite``: the zero-debiasing variables of the calling composite (training mode).
        Returns (output, new moving statistics, new call-site variables)."""
        full = [None] * (len(self._bn_shared) + len(self._bn_site))
        for i, a in zip(self._bn_shared, pCn):
            full[i] = a
        for i, a in zip(self._bn_site, self._bn_site_zeros if pSite is None else pSite):
            full[i] = a
        h, new = self.G.stateless_call(pC, full, [z, c], training=training)
        return h, [new[i] for i in self._bn_shared], [new[i] for i in self._bn_site]

    def generate(self, p, z, k: int, x_k, training: bool, site: str | None = None):
        """G for minority class ``k`` (its IGU): cTMU -> alpha (n_k convex weights) -> alpha @ X_k.
        Returns (samples, alpha, one-hot labels, (new moving statistics, new call-site variables))."""
        c = ops.tile(ops.expand_dims(ops.one_hot(self.minority[k], self.C), 0), (ops.shape(z)[0], 1))
        h, cn, cb = self.ctmu(p["C"], p["Cn"], z, c, training, p["Cb"][site] if site else None)
        alpha = self.IGU[k].stateless_call(p["I"][k], [], h)[0]
        return ops.matmul(alpha, x_k), alpha, c, (cn, cb)

    def fake_batch(self, p, z, labels, x_cat):
        """Step 3: one fake row per label (index into the minority list), each through its class's IGU.

        All IGU kernels are applied at once and a segment mask keeps each row's softmax inside its own class,
        so ``alpha`` is zero outside the row's class and ``alpha @ X_cat`` is that class's convex combination.
        """
        c = ops.one_hot(ops.take(ops.convert_to_tensor(np.asarray(self.minority, np.int32)), labels), self.C)
        h, _, _ = self.ctmu(p["C"], p["Cn"], z, c, self.cfg.fake_bn_mode == "train")  # BN statistics not kept
        kernel = ops.concatenate([w[0] for w in p["I"]], axis=1)
        bias = ops.concatenate([w[1] for w in p["I"]], axis=0)
        logits = ops.matmul(h, kernel) + bias
        mask = ops.equal(ops.expand_dims(ops.convert_to_tensor(self.segment), 0), ops.expand_dims(labels, 1))
        alpha = ops.softmax(ops.where(mask, logits, ops.full_like(logits, -np.inf)), axis=-1)
        return ops.matmul(alpha, x_cat), c

    # -- the single updates ----------------------------------------------------------------------------------
    def update_m(self, state, x, y, mask=None):
        """M on (x, y): MSE (or CE) on the softmax output. With joint feature training x are images and the
        update also trains F."""
        joint = self.cfg.joint_feature_training
        groups = ["M", "F"] if joint else ["M"]

        def loss_fn(params):
            feats = self.features(params["F"], x) if joint else x
            return self.cls_loss(self.m_prob(params["M"], feats), y, mask), None

        params = {g: state["p"][g] for g in groups}
        loss, _, grads = backend.value_and_grad(loss_fn, params)
        return self.apply(state, "M", groups, grads), loss

    def update_f(self, state, images, y):
        """conv_mlp: F through frozen M on images (Fashion's outer epoch)."""
        pM = state["p"]["M"]

        def loss_fn(params):
            return self.cls_loss(self.m_prob(pM, self.features(params["F"], images)), y), None

        loss, _, grads = backend.value_and_grad(loss_fn, {"F": state["p"]["F"]})
        return self.apply(state, "F", ["F"], grads), loss

    def update_d(self, state, x, c, target, mask=None):
        def loss_fn(params):
            return self.adv_loss(self.d_prob(params["D"], x, c), target, mask), None

        loss, _, grads = backend.value_and_grad(loss_fn, {"D": state["p"]["D"]})
        return self.apply(state, "D", ["D"], grads), loss

    def update_g(self, state, k: int, z, x_k, against: str):
        """G->M_k (``against="M"``, target 1 - one-hot) or G->D_k (``"D"``, target 1): cTMU and IGU_k only; the
        cTMU's BN runs in training mode on the ``genClassPoints`` samples, and the composite's call site updates
        its debiased averages and overwrites the shared moving statistics with them."""
        p0 = state["p"]
        gI = f"I{k}"
        site = f"G{against}{k}"

        def loss_fn(params):
            p = dict(p0, C=params["C"], I=[params[gI] if j == k else w for j, w in enumerate(p0["I"])])
            x, _, c, stats = self.generate(p, z, k, x_k, training=True, site=site)
            if against == "M":
                loss = mse(self.m_prob(p0["M"], x), 1.0 - c)
            else:
                loss = self.adv_loss(self.d_prob(p0["D"], x, c), ops.ones((ops.shape(z)[0], 1)))
            return loss, stats

        loss, (cn, cb), grads = backend.value_and_grad(loss_fn, {"C": p0["C"], gI: p0["I"][k]})
        state = self.apply(state, self.g_owner("G" + against, k), ["C", gI], grads)
        state["p"] = dict(state["p"], Cn=list(cn), Cb={**state["p"]["Cb"], site: list(cb)})
        return state, loss

    def x_k(self, x_cat, k):
        return ops.slice(x_cat, (int(self.offsets[k]), 0), (int(self.sizes[k]), self.dim))

    # -- one iteration ------------------------------------------------------------------------------------------
    @property
    def loss_names(self) -> list[str]:
        """The losses :meth:`iteration` returns, in update order."""
        if not self.gamo:
            return ["M_real"]
        return ["M_real", "D_real", "M_fake", "D_fake"] + [f"G{kind}{k}" for k in range(len(self.sizes))
                                                           for kind in ("M", "D")]

    def iteration(self, state, xb, yb, x_cat, r, img=None, mask=None):
        """The 22 updates of one GAMO iteration (module docstring). ``r`` holds this iteration's random numbers
        (already cut to the batch size); ``img`` is the real image batch (joint feature training only);
        ``mask`` marks the real rows of a padded short batch (the fake batch has the same size and mask).
        Returns (state, the losses of the updates as a vector, in :attr:`loss_names` order)."""
        joint = self.cfg.joint_feature_training
        if not self.gamo:
            state, loss = self.update_m(state, img if joint else xb, yb, mask)
            return state, ops.stack([loss])
        losses = []
        state, loss = self.update_m(state, img if joint else xb, yb, mask)
        losses.append(loss)
        if joint:
            xb = self.features(state["p"]["F"], img)
        state, loss = self.update_d(state, xb, yb, 1.0 - r["u_real"], mask)
        losses.append(loss)
        x_fake, c_fake = self.fake_batch(state["p"], r["z_fake"], r["fake_labels"], x_cat)
        upd_m = self._update_m_features if joint else self.update_m
        state, loss = upd_m(state, x_fake, c_fake, mask)
        losses.append(loss)
        state, loss = self.update_d(state, x_fake, c_fake, r["u_fake"], mask)
        losses.append(loss)
        for k in range(len(self.sizes)):
            xk = self.x_k(x_cat, k)
            # one noise batch per class for both composites (dense_gamo_main.py L127-130)
            state, loss = self.update_g(state, k, r["z_gen"][k], xk, "M")
            losses.append(loss)
            state, loss = self.update_g(state, k, r["z_gen"][k], xk, "D")
            losses.append(loss)
        return state, ops.stack(losses)

    def _update_m_features(self, state, x, y, mask=None):
        """M on feature-space fakes when F is trained jointly: the fakes carry no gradient to F."""
        def loss_fn(params):
            return self.cls_loss(self.m_prob(params["M"], x), y, mask), None

        loss, _, grads = backend.value_and_grad(loss_fn, {"M": state["p"]["M"]})
        return self.apply(state, "M", ["M"], grads), loss

    # -- compiled functions -----------------------------------------------------------------------------------
    def make_chunk_fn(self, batch_size: int, full_batch: int, xla=None):
        """Compiled ``(state, data, rand, n) -> (state, losses)``: n consecutive iterations with batches of ``batch_size``
        rows; the short last batch of a pass is padded to the full size and masked (``rand["mask"]``): its
        losses are means over its real rows, so updates are those of the short batch, and one trace serves all.

        ``data``: {"x": (N, dim) training samples (pixels or current features), "y": (N, C) one-hot,
        "x_cat": minority samples class after class, ["img": images (joint)]};
        ``rand``: the :class:`gamo.data.RandomChunk` arrays, row k for the chunk's k-th iteration, including
        ``row0``, the first row of its batch. The batch position is an input array rather than computed from
        a start index, and rows are gathered rather than sliced, because TensorFlow's XLA bridge treats a slice's
        dynamic start as a compile-time constant and recompiled for every value (measured: 12-18 s per call).
        ``losses``: the last iteration's losses (:attr:`loss_names`).
        """
        bs = int(batch_size)

        def run(state, data, rand, n):
            offsets = ops.arange(bs, dtype="int32")
            last_row = ops.shape(data["x"])[0] - 1

            def body(k, carry):
                s, _ = carry
                # iteration k's batch rows, gathered (see above); a short last batch is padded and masked
                rows = ops.minimum(ops.take(rand["row0"], k) + offsets, last_row)
                mask = ops.take(rand["mask"], k, axis=0)
                xb = ops.take(data["x"], rows, axis=0)
                yb = ops.take(data["y"], rows, axis=0)
                img = ops.take(data["img"], rows, axis=0) if self.cfg.joint_feature_training else None
                r = {key: ops.take(rand[key], k, axis=0) for key in ("z_fake", "fake_labels", "u_real", "u_fake",
                                                                        "z_gen")}
                return self.iteration(s, xb, yb, data["x_cat"], r, img, mask)

            return ops.fori_loop(0, n, body, (state, ops.zeros((len(self.loss_names),))))

        return backend.compile_fn(run, xla)

    def make_f_epoch_fn(self, batch_size: int, xla=None):
        """Compiled ``(state, images, y, perm, start, n, full_batch) -> state``: F updates on batches
        start..start+n-1 of the epoch's permutation (``conv_mlp.fit(..., batch_size=32, epochs=1, shuffle=True)``).
        Rows are gathered, never sliced at a dynamic start (see :meth:`make_chunk_fn`)."""
        bs = int(batch_size)

        def run(state, images, y, perm, start, n, full_batch):
            offsets = ops.arange(bs, dtype="int32")

            def body(b, s):
                idx = ops.take(perm, (start + b) * full_batch + offsets)
                return self.update_f(s, ops.take(images, idx, axis=0), ops.take(y, idx, axis=0))[0]

            return ops.fori_loop(0, n, body, state)

        return backend.compile_fn(run, xla)

    def make_features_fn(self, chunk: int, xla=None):
        """Compiled ``(pF, images, start) -> F(images[start:start+chunk])``."""
        def run(pF, images, start):
            return self.features(pF, ops.take(images, start + ops.arange(chunk, dtype="int32"), axis=0))

        return backend.compile_fn(run, xla)

    def make_predict_fn(self, chunk: int, from_images: bool, xla=None):
        """Compiled ``(p, x, start) -> M's softmax on rows start..start+chunk-1`` (through F for images)."""
        def run(p, x, start):
            rows = ops.take(x, start + ops.arange(chunk, dtype="int32"), axis=0)
            return self.m_prob(p["M"], self.features(p["F"], rows) if from_images else rows)

        return backend.compile_fn(run, xla)

    def sample(self, p, k: int, z, x_cat):
        """(samples, alpha) of minority class k, cTMU in inference mode (pictures, GAMO2pix); not compiled."""
        x, alpha, _, _ = self.generate(p, z, k, self.x_k(x_cat, k), training=False)
        return x, alpha
