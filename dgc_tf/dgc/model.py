"""The DGC graph (the original's `dgc.py` L17-95 and `models.py`): encoder q(z | x, y), decoder p(x | z),
classifier p(y | z), their losses, the optimisers of the original and the batched generative Bayes-rule predictor.

Paper names (Fig. 3): phi1 = the conv stack of the encoder, phi2 = its linear head, theta1 = the decoder,
theta2 = the classifier. Variable scopes follow the original: ``encoder``, ``generator``, ``classifier``.
"""
from __future__ import annotations

import math

import numpy as np

from . import losses, ops, oversample
from .tfcompat import tf

LOGVAR_CLIP = 50.0  # the encoder's log-variance is clipped to [-50, 50]
SAMPLE_EPS = 1e-8  # z = mu + eps * sqrt(1e-8 + exp(logvar))


# Every random draw inside the graph is a stateless op keyed by a fed ``rng_key`` = (seed, call counter), so a
# draw depends only on the training seed and on which call of the run it is (stage, epoch, step): a run resumed
# from a checkpoint draws exactly what an uninterrupted run draws. (A stateful ``tf.random_normal`` restarts its
# stream with every new session, which is what made a resumed run differ.) The distribution is unchanged.
PHASES = {"pretrain": 1, "lvo": 2, "main": 3, "oversample": 4, "predict": 5}
_FIELD = 1 << 24


def rng_key(seed: int, phase: str, epoch: int = 0, step: int = 0) -> np.ndarray:
    """The ``rng_key`` of one graph call: (seed, phase, epoch, step) packed into two int64 words."""
    if not (0 <= epoch < _FIELD and 0 <= step < _FIELD):
        raise ValueError(f"epoch {epoch} and step {step} must be in [0, {_FIELD})")
    return np.array([int(seed), (PHASES[phase] * _FIELD + int(epoch)) * _FIELD + int(step)], dtype=np.int64)


def stateless_normal(shape, key, stream: int = 0):
    """N(0, 1) draws keyed by ``key`` (an int64 [2] tensor); ``stream`` separates the draws of one call."""
    return tf.random.stateless_normal(shape, seed=tf.random.experimental.stateless_fold_in(key, stream))


def reparameterize(mu, logvar, eps):
    """z = mu + eps * sqrt(1e-8 + exp(logvar)) (the original's `dgc.py` L97-103)."""
    return mu + eps * tf.sqrt(SAMPLE_EPS + tf.exp(logvar))


def sample_z(mu, logvar, key, stream: int = 0):
    return reparameterize(mu, logvar, stateless_normal(tf.shape(mu), key, stream))


class Networks:
    """The three networks, callable in training mode (batch statistics, in-place BN updates) or inference mode."""

    def __init__(self, cfg: dict):
        self.cfg = cfg
        self.h, self.w, self.ch = (int(v) for v in cfg["input_shape"])
        self.n_classes = int(cfg["n_classes"])
        self.zdim = int(cfg["zdim"])
        self.std = float(cfg["init_std"])

    # -- encoder ---------------------------------------------------------------------------------------------
    def encoder_features(self, x, training: bool):
        """phi1: L x (conv stride 2, SAME -> BN -> ReLU), channels e_num_filters / 2^(L-1-i); then flatten."""
        cfg = self.cfg
        layers = int(cfg["e_num_layers"])
        h = x
        with tf.variable_scope("encoder", reuse=tf.AUTO_REUSE):
            for i in range(layers):
                # the original divides floats (1024 / 8 = 128.0); channel counts must be integers here
                units = int(cfg["e_num_filters"]) // 2 ** (layers - 1 - i)
                h = ops.conv2d(h, units, int(cfg["conv_filters_dim"]), 2, f"h{i}_conv", self.std)
                if cfg["batch_norm"]:
                    h = ops.batch_norm(h, training, f"h{i}_bn", cfg["batch_norm_eps"], cfg["batch_norm_decay"])
                h = tf.nn.relu(h)
            flat = tf.reshape(h, [-1, int(np.prod(h.shape[1:]))])
        if int(flat.shape[-1]) != int(cfg["hdim"]):
            raise ValueError(f"encoder output has {int(flat.shape[-1])} features, config hdim is {cfg['hdim']}")
        return flat

    def encoder_head(self, features, y_onehot):
        """phi2: concatenate one-hot y, Linear -> hdim (no activation), then the mu and log-variance heads."""
        with tf.variable_scope("encoder", reuse=tf.AUTO_REUSE):
            hidden = ops.linear(tf.concat([features, y_onehot], axis=1), int(self.cfg["hdim"]), "hid_lin",
                                self.std, self.cfg["init_bias"])
            return self._heads(hidden)

    def _heads(self, hidden):
        mu = ops.linear(hidden, self.zdim, "mu_lin", self.std, self.cfg["init_bias"])
        logvar = ops.linear(hidden, self.zdim, "logvar_lin", self.std, self.cfg["init_bias"])
        return mu, tf.clip_by_value(logvar, -LOGVAR_CLIP, LOGVAR_CLIP)

    def encoder_head_all_classes(self, features):
        """phi2 for every candidate label at once: [N, hdim] features -> mu, logvar of shape [C, N, zdim].

        Same weights as ``encoder_head``: W @ [f; onehot(c)] = W_f @ f + W_y[c], so the feature part is
        multiplied once per image instead of once per image and class.
        """
        hdim_in = int(features.shape[-1])
        with tf.variable_scope("encoder", reuse=tf.AUTO_REUSE):
            with tf.variable_scope("hid_lin"):
                w = tf.get_variable("W", [hdim_in + self.n_classes, int(self.cfg["hdim"])])
                b = tf.get_variable("b", [int(self.cfg["hdim"])])
            shared = tf.matmul(features, w[:hdim_in]) + b  # [N, hdim]
            hidden = shared[None, :, :] + w[hdim_in:][:, None, :]  # [C, N, hdim]
            flat = tf.reshape(hidden, [-1, int(self.cfg["hdim"])])
            mu, logvar = self._heads(flat)
        shape = tf.stack([self.n_classes, tf.shape(features)[0], self.zdim])
        return tf.reshape(mu, shape), tf.reshape(logvar, shape)

    # -- decoder ---------------------------------------------------------------------------------------------
    def decoder(self, z, training: bool):
        """theta1: Linear z -> g_num_filters*h*w, ReLU (no BN); (g_layers - 1) x (deconv stride 2 -> BN -> ReLU),
        channels halving; a stride-1 deconv to the image channels; sigmoid."""
        cfg = self.cfg
        layers = int(cfg["g_num_layers"])
        k = int(cfg["conv_filters_dim"])
        nf = int(cfg["g_num_filters"])
        h0, w0 = self.h // 2 ** (layers - 1), self.w // 2 ** (layers - 1)
        if h0 * 2 ** (layers - 1) != self.h or w0 * 2 ** (layers - 1) != self.w:
            raise ValueError(f"image size {self.h}x{self.w} is not divisible by 2^{layers - 1} (g_num_layers)")
        with tf.variable_scope("generator", reuse=tf.AUTO_REUSE):
            h = ops.linear(z, nf * h0 * w0, "h0_lin", self.std, cfg["init_bias"])
            h = tf.nn.relu(tf.reshape(h, [-1, h0, w0, nf]))
            for i in range(layers - 1):
                scale = 2 ** (i + 1)
                h = ops.deconv2d(h, (h0 * scale, w0 * scale), nf // scale, k, 2, f"h{i + 1}_deconv", self.std)
                if cfg["batch_norm"]:
                    h = ops.batch_norm(h, training, f"h{i + 1}_bn", cfg["batch_norm_eps"], cfg["batch_norm_decay"])
                h = tf.nn.relu(h)
            h = ops.deconv2d(h, (self.h, self.w), self.ch, k, 1, "out_deconv", self.std)
        return tf.nn.sigmoid(h)

    # -- classifier ------------------------------------------------------------------------------------------
    def classifier(self, z):
        """theta2: logits of p(y | z); linear (MNIST) or Linear 500, ReLU, Linear 500, ReLU, Linear C (CelebA)."""
        with tf.variable_scope("classifier", reuse=tf.AUTO_REUSE):
            h = z
            if self.cfg["mlp_classifier"]:
                for i, units in enumerate(self.cfg["mlp_units"]):
                    h = tf.nn.relu(ops.linear(h, int(units), f"h{i}_lin", self.std, self.cfg["init_bias"]))
            return ops.linear(h, self.n_classes, "out_lin", self.std, self.cfg["init_bias"])


def scope_vars(scope: str):
    return tf.get_collection(tf.GraphKeys.TRAINABLE_VARIABLES, scope=scope + "/")


def generative_scores(x, x_hat, log_py, mmd, lam: float, mmd_sign: float, group_size):
    """The code form of the paper's eq. 9, batched over candidate classes, samples and test images.

    x: [N, D] test images (flattened); x_hat: [C, S, N, D] decodings of z ~ q(z | x, c);
    log_py: [C, S, N] log p(y = c | z); mmd: [G, C] one MMD per test batch of ``group_size`` images and class
    (N = G * group_size). Per sample: 0.5 * (-||x - x_hat||^2) + log p(y = c | z) + sign * lambda * MMD; the
    class score is the log-mean-exp over the S samples. Returns [N, C] scores.
    """
    sq = tf.reduce_sum(tf.square(x[None, None] - x_hat), axis=-1)  # [C, S, N]
    image_group = tf.range(tf.shape(x)[0]) // group_size  # test batch of each image
    mmd_per_image = tf.gather(mmd, image_group)  # [N, C]
    per_sample = -0.5 * sq + log_py + mmd_sign * lam * tf.transpose(mmd_per_image)[:, None, :]
    s = tf.cast(tf.shape(per_sample)[1], tf.float32)
    lme = tf.reduce_logsumexp(per_sample, axis=1) - tf.log(s)  # [C, N]
    return tf.transpose(lme)


def discriminative_scores(log_py):
    """log-mean-exp over samples of log p(y = c | z), z ~ q(z | x, c): [C, S, N] -> [N, C]."""
    s = tf.cast(tf.shape(log_py)[1], tf.float32)
    return tf.transpose(tf.reduce_logsumexp(log_py, axis=1) - tf.log(s))


class DGCGraph:
    """Builds the training and prediction graph of one DGC model in the default graph.

    Training data live in graph variables (outside the checkpoints), so a step feeds only batch indices. Every
    call that draws noise (pretraining, LVO, main and oversampling steps, prediction) feeds ``rng_key``
    (``rng_key(seed, phase, epoch, step)``).
    """

    def __init__(self, cfg: dict, train_counts, x_shape, seed: int | None = None):
        self.cfg = cfg
        self.nets = Networks(cfg)
        self.train_counts = list(train_counts)
        self.seed = seed
        zdim, ncls = int(cfg["zdim"]), int(cfg["n_classes"])
        lam = float(cfg["lambda"])

        # -- data held in the graph ----------------------------------------------------------------------
        self.data_x_init = tf.placeholder(tf.float32, [None] + list(x_shape[1:]), "data_x_init")
        self.data_y_init = tf.placeholder(tf.int32, [None], "data_y_init")
        local = [tf.GraphKeys.LOCAL_VARIABLES]
        self.data_x = tf.Variable(self.data_x_init, trainable=False, collections=local, name="data_x",
                                  validate_shape=False)
        self.data_y = tf.Variable(self.data_y_init, trainable=False, collections=local, name="data_y",
                                  validate_shape=False)
        self.batch_idx = tf.placeholder(tf.int32, [None], "batch_idx")
        x = tf.reshape(tf.gather(self.data_x, self.batch_idx), [-1] + list(x_shape[1:]))
        y = tf.reshape(tf.gather(self.data_y, self.batch_idx), [-1])
        self.x, self.y = x, y
        self.prior = tf.placeholder(tf.float32, [None, zdim], "prior_sample")  # numpy draws, as the original
        self.lr = tf.placeholder(tf.float32, [], "learning_rate")
        self.rng_key = tf.placeholder(tf.int64, [2], "rng_key")  # the key of this call's noise

        # -- the objective on a training batch ----------------------------------------------------------
        y1h = tf.one_hot(y, ncls)
        self.mu, self.logvar = self.nets.encoder_head(self.nets.encoder_features(x, True), y1h)
        # the noise tensors are kept so that a test can feed its own draws in their place
        self.eps = stateless_normal(tf.shape(self.mu), self.rng_key)
        self.z = reparameterize(self.mu, self.logvar, self.eps)
        self.x_hat = self.nets.decoder(self.z, True)
        self.logits = self.nets.classifier(self.z)
        self.loss_recon = losses.reconstruction_l2sq(x, self.x_hat)
        self.loss_mmd = losses.mmd_imq(self.z, self.prior, zdim)
        self.loss_ce = losses.cross_entropy(y, self.logits, cfg["ce_reduction"])
        self.loss = self.loss_recon + lam * self.loss_mmd + self.loss_ce
        self.train_correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(self.logits, 1, output_type=tf.int32), y),
                                                   tf.int32))

        enc, gen, cls = scope_vars("encoder"), scope_vars("generator"), scope_vars("classifier")
        self.vars = {"encoder": enc, "generator": gen, "classifier": cls}
        beta1 = float(cfg["adam_beta1"])

        # -- encoder pretraining by moment matching (its own Adam, no decay) -----------------------------
        self.loss_pretrain = losses.moment_matching(self.z, self.prior)
        self.pretrain_opt = tf.train.AdamOptimizer(float(cfg["lr"]), beta1=beta1, name="pretrain_adam")
        self.pretrain_op = self.pretrain_opt.minimize(self.loss_pretrain, var_list=enc)

        # -- the main optimiser -------------------------------------------------------------------------
        self.main_opt = tf.train.AdamOptimizer(self.lr, beta1=beta1, name="main_adam")
        # LVO: one step on the total objective, encoder only. The code builds it on the pretraining Adam.
        self.lvo_op = None
        if cfg["LVO"]:
            lvo_opt = self.main_opt if cfg["lvo_main_optimizer"] else self.pretrain_opt
            self.lvo_op = lvo_opt.minimize(self.loss, var_list=enc)
        self.main_op = self.main_opt.minimize(self.loss, var_list=enc + gen + cls)

        # -- latent oversampling: classifier-only step on copied (mu, logvar) with fresh epsilon ---------
        self.aug_mu = tf.placeholder(tf.float32, [None, zdim], "aug_mu")
        self.aug_logvar = tf.placeholder(tf.float32, [None, zdim], "aug_logvar")
        self.aug_y = tf.placeholder(tf.int32, [None], "aug_y")
        self.aug_src = tf.placeholder(tf.int32, [None], "aug_source_index")  # rows of data_x the copies come from
        self.aug_eps = stateless_normal(tf.shape(self.aug_mu), self.rng_key)
        z_aug = reparameterize(self.aug_mu, self.aug_logvar, self.aug_eps)
        self.loss_aug_ce = losses.cross_entropy(self.aug_y, self.nets.classifier(z_aug), cfg["ce_reduction"])
        aug_loss, aug_vars = self.loss_aug_ce, cls
        self.loss_aug_recon = tf.constant(0.0)
        if cfg["decode_oversampled"]:
            # Paper Sec. 3.3 / Fig. 3: the oversampled codes are decoded into synthetic images; their
            # reconstruction term against the source image also trains the decoder.
            x_src = tf.reshape(tf.gather(self.data_x, self.aug_src), [-1] + list(x_shape[1:]))
            self.loss_aug_recon = losses.reconstruction_l2sq(x_src, self.nets.decoder(z_aug, True))
            aug_loss, aug_vars = aug_loss + self.loss_aug_recon, cls + gen
        self.aug_opt = self.main_opt
        if cfg["separate_cls_optimizer"]:
            self.aug_opt = tf.train.AdamOptimizer(self.lr, beta1=beta1, name="cls_adam")
        self.aug_op = self.aug_opt.minimize(aug_loss, var_list=aug_vars)

        # -- prediction ---------------------------------------------------------------------------------
        self._build_predict(x_shape)
        self.init_op = tf.global_variables_initializer()

    def _build_predict(self, x_shape):
        """Batched generative Bayes rule: every candidate class and all S samples of a chunk in one call."""
        cfg = self.cfg
        zdim, ncls, S = int(cfg["zdim"]), int(cfg["n_classes"]), int(cfg["sampling_size"])
        self.test_x = tf.placeholder(tf.float32, [None] + list(x_shape[1:]), "test_x")
        self.group_size = tf.placeholder_with_default(int(cfg["test_batch_size"]), [], "test_batch_size")
        n = tf.shape(self.test_x)[0]
        feats = self.nets.encoder_features(self.test_x, False)  # label-independent: once per image
        mu, logvar = self.nets.encoder_head_all_classes(feats)  # [C, N, k]
        self.pred_eps = eps = stateless_normal(tf.stack([ncls, S, n, zdim]), self.rng_key, 0)
        z = mu[:, None] + eps * tf.sqrt(SAMPLE_EPS + tf.exp(logvar))[:, None]  # [C, S, N, k]
        flat_z = tf.reshape(z, [-1, zdim])
        x_hat = tf.reshape(self.nets.decoder(flat_z, False), tf.stack([ncls, S, n, -1]))
        log_py_all = tf.nn.log_softmax(self.nets.classifier(flat_z))  # [C*S*N, C]
        log_py = tf.reshape(tf.reduce_sum(tf.reshape(log_py_all, tf.stack([ncls, S, n, ncls]))
                                          * tf.eye(ncls)[:, None, None, :], axis=-1), tf.stack([ncls, S, n]))
        # One MMD per (test batch, class) over its S * batch codes, against a fresh prior sample.
        groups = n // self.group_size
        zg = tf.reshape(z, tf.stack([ncls, S, groups, self.group_size, zdim]))
        zg = tf.reshape(tf.transpose(zg, [2, 0, 1, 3, 4]), tf.stack([groups, ncls, S * self.group_size, zdim]))
        self.pred_prior = stateless_normal(tf.shape(zg), self.rng_key, 1)
        mmd = losses.mmd_imq(zg, self.pred_prior, zdim)  # [G, C]
        sign = {"plus": 1.0, "minus": -1.0, "off": 0.0}[cfg["inference_mmd"]]
        x_flat = tf.reshape(self.test_x, tf.stack([n, -1]))
        self.pred_scores = generative_scores(x_flat, x_hat, log_py, mmd, float(cfg["lambda"]), sign,
                                             self.group_size)
        self.pred_probs = tf.nn.softmax(self.pred_scores)
        self.pred_disc_scores = discriminative_scores(log_py)
        # For sample grids: decode prior samples; reconstruct with the true label.
        self.vis_z = tf.placeholder(tf.float32, [None, zdim], "vis_z")
        self.vis_decoded = self.nets.decoder(self.vis_z, False)

    # -- helpers used by the trainer ---------------------------------------------------------------------
    def train_step(self, sess, idx, y_batch, prior, lr: float, copies, key, noise=None) -> dict:
        """One training iteration in the original's order (`dgc.py` L360-379): the LVO step (if the config
        has it), the main step, then latent oversampling on the main step's (mu, logvar) of this batch.

        ``idx``: rows of the training set; ``y_batch``: their labels; ``prior``: the prior sample for the MMD;
        ``copies``: copies per sample of each class (``oversample.copies_per_sample``); ``key(phase)``: the
        ``rng_key`` of each call. ``noise`` (tests): {"lvo" | "main" | "oversample": eps} fed in place of the
        graph's own draws. Returns the main step's fetches and, with latent oversampling, ``aug_ce`` and
        ``aug_codes``.
        """
        noise = noise or {}
        feed = {self.batch_idx: idx, self.prior: prior, self.lr: lr}
        if self.lvo_op is not None:  # LVO: encoder-only step on the total objective (the main step's feed)
            extra = {self.eps: noise["lvo"]} if "lvo" in noise else {}
            sess.run(self.lvo_op, {**feed, self.rng_key: key("lvo"), **extra})
        fetch = {"main": self.main_op, "loss": self.loss, "recon": self.loss_recon, "mmd": self.loss_mmd,
                 "ce": self.loss_ce, "correct": self.train_correct, "mu": self.mu, "logvar": self.logvar}
        extra = {self.eps: noise["main"]} if "main" in noise else {}
        out = sess.run(fetch, {**feed, self.rng_key: key("main"), **extra})
        if self.cfg["augment_z"]:
            rows = oversample.augment_indices(y_batch, copies)
            aug_feed = {self.aug_mu: out["mu"][rows], self.aug_logvar: out["logvar"][rows],
                        self.aug_y: np.asarray(y_batch)[rows], self.aug_src: np.asarray(idx)[rows], self.lr: lr,
                        self.rng_key: key("oversample")}
            if "oversample" in noise:
                aug_feed[self.aug_eps] = noise["oversample"]
            _, out["aug_ce"] = sess.run([self.aug_op, self.loss_aug_ce], aug_feed)
            out["aug_codes"] = len(rows)
        return out

    def load_data(self, sess, x_train, y_train):
        sess.run([self.data_x.initializer, self.data_y.initializer],
                 {self.data_x_init: x_train, self.data_y_init: y_train.astype(np.int32)})

    def predict(self, sess, x, test_batch_size: int, batches_per_call: int = 1, progress=None, seed: int = 0,
                epoch: int = 0):
        """Scores for test images in the original's test batches; returns (probs, gen_scores, disc_scores).

        The noise of graph call i is keyed by ``rng_key(seed, "predict", epoch, i)``."""
        chunk = test_batch_size * max(1, int(batches_per_call))
        probs, gen, disc = [], [], []
        n_full = (len(x) // test_batch_size) * test_batch_size
        starts = list(range(0, n_full, chunk))
        for i, s in enumerate(starts):
            xb = x[s:min(s + chunk, n_full)]
            out = sess.run([self.pred_probs, self.pred_scores, self.pred_disc_scores],
                           {self.test_x: xb, self.rng_key: rng_key(seed, "predict", epoch, i)})
            for lst, o in zip((probs, gen, disc), out):
                lst.append(o)
            if progress is not None:
                progress.update(len(xb))
        if n_full < len(x):  # a last, shorter test batch is its own group
            xb = x[n_full:]
            out = sess.run([self.pred_probs, self.pred_scores, self.pred_disc_scores],
                           {self.test_x: xb, self.group_size: len(xb),
                            self.rng_key: rng_key(seed, "predict", epoch, len(starts))})
            for lst, o in zip((probs, gen, disc), out):
                lst.append(o)
            if progress is not None:
                progress.update(len(xb))
        return tuple(np.concatenate(lst) for lst in (probs, gen, disc))


def flops_per_image(cfg: dict) -> dict:
    """Multiply-add count x 2 of one forward pass per image (for the benchmark's GPU extrapolation)."""
    h, w, c = (int(v) for v in cfg["input_shape"])
    k = int(cfg["conv_filters_dim"])
    enc = 0
    layers = int(cfg["e_num_layers"])
    ch_in, hh, ww = c, h, w
    for i in range(layers):
        out = int(cfg["e_num_filters"]) // 2 ** (layers - 1 - i)
        hh, ww = math.ceil(hh / 2), math.ceil(ww / 2)
        enc += 2 * hh * ww * out * ch_in * k * k
        ch_in = out
    hdim, zdim = int(cfg["hdim"]), int(cfg["zdim"])
    enc_head = 2 * (hdim + int(cfg["n_classes"])) * hdim + 2 * 2 * hdim * zdim
    g = int(cfg["g_num_layers"])
    nf = int(cfg["g_num_filters"])
    h0, w0 = h // 2 ** (g - 1), w // 2 ** (g - 1)
    dec = 2 * zdim * nf * h0 * w0
    ch_in, hh, ww = nf, h0, w0
    for i in range(g - 1):
        out = nf // 2 ** (i + 1)
        dec += 2 * hh * ww * ch_in * out * k * k  # each input pixel feeds k*k outputs
        hh, ww, ch_in = hh * 2, ww * 2, out
    dec += 2 * hh * ww * ch_in * c * k * k
    return {"encoder_conv": enc, "encoder_head": enc_head, "decoder": dec}
