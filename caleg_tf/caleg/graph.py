"""The CaLeG graph: one build per run, every op the training loop executes (the losses and steps of the
original's ``caleg.py`` L36-97, ``caleg_noaug.py`` for r <= 0; anonymous184/CaLeG@096caad).

Per-step inputs are only a vector of training-set indices (the images live in a graph variable) and the
generated labels y_gen (a short int vector, the same for every batch of one size). Generated codes are drawn
in the graph from the class Gaussians' means and SVD factors, which are variables refreshed at each refit;
the encoder execution stores its draw in ``z_gen`` so the decoder and discriminator executions of the same
iteration see the same codes, as the original's shared feed did.
"""
from __future__ import annotations

import numpy as np

from . import losses, nets, ops
from .tfcompat import tf


class CaLeGGraph:
    def __init__(self, cfg: dict, x_train: np.ndarray, y_train: np.ndarray, seed: int | None = None):
        self.cfg = cfg
        self.aug = cfg["aug_rate"] > 0
        self.graph = tf.Graph()
        with self.graph.as_default():
            if seed is not None:
                tf.set_random_seed(seed)
            self._build(x_train, y_train)

    # -- inputs ------------------------------------------------------------------------------------------
    def _inputs(self, x_train, y_train):
        cfg = self.cfg
        h, w, c = cfg["image_shape"]
        local = [tf.GraphKeys.LOCAL_VARIABLES]
        self.step_seed = ops.step_seed()  # fed at every execution (train.py): stateless random ops, exact resume
        n = len(x_train)
        self.x_train_ph = tf.placeholder(tf.uint8, [n, h, w, c], "x_train_all")
        self.y_train_ph = tf.placeholder(tf.int32, [n], "y_train_all")
        self.train_images = tf.Variable(self.x_train_ph, trainable=False, collections=local, name="train_images")
        self.train_labels = tf.Variable(self.y_train_ph, trainable=False, collections=local, name="train_labels")
        self.batch_idx = tf.placeholder(tf.int32, [None], "batch_idx")
        self.x = tf.cast(tf.gather(self.train_images, self.batch_idx), tf.float32) / 255.0  # ToTensor scaling
        self.y = tf.gather(self.train_labels, self.batch_idx)
        self.y_gen = tf.placeholder(tf.int32, [None], "y_gen")

        k, d = cfg["num_classes"], cfg["zdim"]
        self.lr = tf.get_variable("lr", [], tf.float32, tf.constant_initializer(cfg["lr"]), trainable=False)
        self.lr_ph = tf.placeholder(tf.float32, [], "lr_value")
        self.set_lr = tf.assign(self.lr, self.lr_ph)
        # Class Gaussians: means and sampling factors F (z = mu + eps F), refreshed at each refit.
        self.g_mean = tf.get_variable("class_gauss/mean", [k, d], tf.float32, tf.zeros_initializer(),
                                      trainable=False)
        self.g_factor = tf.get_variable("class_gauss/factor", [k, d, d], tf.float32,
                                        tf.constant_initializer(np.tile(np.eye(d, dtype=np.float32), (k, 1, 1))),
                                        trainable=False)
        self.g_mean_ph = tf.placeholder(tf.float32, [k, d], "class_gauss_mean")
        self.g_factor_ph = tf.placeholder(tf.float32, [k, d, d], "class_gauss_factor")
        self.set_gauss = tf.group(tf.assign(self.g_mean, self.g_mean_ph), tf.assign(self.g_factor, self.g_factor_ph))

        eps = ops.random_normal(tf.stack([tf.shape(self.y_gen)[0], d]))
        self.z_new = tf.gather(self.g_mean, self.y_gen) + tf.einsum("ni,nij->nj", eps,
                                                                     tf.gather(self.g_factor, self.y_gen))
        z_var = tf.Variable(tf.zeros([0, d]), trainable=False, collections=local, validate_shape=False,
                            name="z_gen")
        self.store_z_gen = tf.assign(z_var, self.z_new, validate_shape=False)
        self.z_gen = tf.reshape(tf.identity(z_var), [-1, d])
        self.local_init = tf.variables_initializer([self.train_images, self.train_labels, z_var])

    # -- the model ---------------------------------------------------------------------------------------
    def _build(self, x_train, y_train):
        cfg = self.cfg
        r = cfg["aug_rate"]
        red = cfg["ce_reduction"]
        self._inputs(x_train, y_train)
        x, y = self.x, self.y

        # Autoencoder and classifier on the real batch (training mode).
        self.z = nets.encoder(x, cfg, training=True)
        self.x_rec, self.logits = nets.decoder(self.z, cfg, training=True)
        self.pz = ops.random_normal(tf.shape(self.z))  # fresh N(0, I) prior batch for the MMD
        self.loss_rec = losses.reconstruction(x, self.x_rec, cfg["rec_weight"])
        self.loss_mmd = losses.mmd_penalty(self.z, self.pz, cfg["zdim"])
        self.loss_ce = losses.cross_entropy(y, self.logits, red)
        self.train_acc = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(self.logits, 1, output_type=tf.int32), y),
                                                tf.float32))
        enc_obj = self.loss_rec + cfg["mmd_lambda"] * self.loss_mmd + self.loss_ce
        self.loss_ae = enc_obj  # the joint warm-up objective (no generated codes exist before the first refit)
        if self.aug and cfg["classify_generated"]:
            # Fix #2; uses the fresh draw of this execution, the same codes stored for the next two.
            self.loss_ce_gen = losses.cross_entropy(self.y_gen, nets.classify(self.z_new, cfg), red)
            enc_obj = enc_obj + self.loss_ce_gen
        self.loss_enc = enc_obj

        def critic(u):
            return nets.discriminator(u, cfg, training=True)[1]

        d_logits_x, d_w_x = nets.discriminator(x, cfg, training=True)
        d_logits_rec, d_w_rec = nets.discriminator(self.x_rec, cfg, training=True)
        ce_d_x = losses.cross_entropy(y, d_logits_x, "mean")
        ce_d_rec = losses.cross_entropy(y, d_logits_rec, "mean")
        gp_rec = losses.gradient_penalty(critic, losses.pair_real(x, self.x_rec, r if self.aug else 0.0),
                                         self.x_rec)
        if self.aug:
            self.x_gen, _ = nets.decoder(self.z_gen, cfg, training=True)
            d_logits_gen, d_w_gen = nets.discriminator(self.x_gen, cfg, training=True)
            ce_d_gen = losses.cross_entropy(self.y_gen, d_logits_gen, "mean")
            self.accepted = tf.equal(tf.argmax(d_logits_gen, 1, output_type=tf.int32), self.y_gen)
            gp_gen = losses.gradient_penalty(
                critic, losses.pair_real(x, self.x_gen, r, resample=cfg["gp_real_resample"] and r > 1), self.x_gen)
            self.loss_critic = tf.reduce_mean(d_w_rec) + tf.reduce_mean(d_w_gen) - 2.0 * tf.reduce_mean(d_w_x)
            self.loss_gen_w = -(tf.reduce_mean(d_w_rec) + tf.reduce_mean(d_w_gen))
            self.loss_gp = 0.5 * (gp_rec + gp_gen)
            self.loss_dec = self.loss_rec + ce_d_gen + ce_d_rec + self.loss_gen_w
            self.loss_disc = ce_d_x + ce_d_gen + ce_d_rec + self.loss_critic + cfg["gp_weight"] * self.loss_gp
        else:  # caleg_noaug.py L53-70: no generated batch, GP(x, x_rec) alone with weight 1
            self.loss_critic = tf.reduce_mean(d_w_rec) - tf.reduce_mean(d_w_x)
            self.loss_gen_w = -tf.reduce_mean(d_w_rec)
            self.loss_gp = gp_rec
            self.loss_dec = self.loss_rec + ce_d_rec + self.loss_gen_w
            self.loss_disc = ce_d_x + ce_d_rec + self.loss_critic + cfg["gp_weight"] * self.loss_gp

        # Encoder pretraining on S images against S prior samples fed from numpy.
        self.pre_idx = tf.placeholder(tf.int32, [None], "pretrain_idx")
        self.pre_pz = tf.placeholder(tf.float32, [None, cfg["zdim"]], "pretrain_pz")
        x_pre = tf.cast(tf.gather(self.train_images, self.pre_idx), tf.float32) / 255.0
        self.loss_pre = losses.moment_matching(nets.encoder(x_pre, cfg, training=True), self.pre_pz)

        # Inference paths: evaluation (argmax C(E(x))) and decoding codes for the refit pictures.
        h, w, c = cfg["image_shape"]
        self.x_eval = tf.placeholder(tf.uint8, [None, h, w, c], "x_eval")
        z_eval = nets.encoder(tf.cast(self.x_eval, tf.float32) / 255.0, cfg, training=False,
                              noise=not cfg["no_eval_noise"])
        self.eval_logits = nets.classify(z_eval, cfg)
        self.z_vis = tf.placeholder(tf.float32, [None, cfg["zdim"]], "z_vis")
        self.x_vis, _ = nets.decoder(self.z_vis, cfg, training=False)

        self._optimizers()
        self.saver = tf.train.Saver(self.saved_variables(), max_to_keep=None)  # train.py prunes
        self.init = tf.global_variables_initializer()

    def _optimizers(self):
        cfg = self.cfg

        def scope_vars(prefix):
            return [v for v in tf.trainable_variables() if v.name.startswith(prefix + "/")]

        self.enc_vars = scope_vars("encoder")
        self.gen_vars = scope_vars("generator")  # includes generator/classifier
        self.cls_vars = scope_vars("generator/classifier")
        self.disc_vars = scope_vars("discriminator")

        def adam(name):
            return tf.train.AdamOptimizer(self.lr, beta1=cfg["beta1"], name=name)

        # One Adam instance as in the original (caleg.py L91-95), so its beta1/beta2 power accumulators
        # advance on every apply; the fix separate_optimizers makes one per op.
        shared = adam("Adam")
        opt = {k: (adam(f"Adam_{k}") if cfg["separate_optimizers"] else shared) for k in ("ae", "enc", "dec", "disc")}
        enc_step_vars = self.enc_vars + (self.cls_vars if cfg["train_classifier_phase2"] else [])
        self.train_ae = opt["ae"].minimize(self.loss_ae, var_list=self.enc_vars + self.gen_vars)
        self.train_enc = opt["enc"].minimize(self.loss_enc, var_list=enc_step_vars)
        self.train_dec = opt["dec"].minimize(self.loss_dec, var_list=self.gen_vars)  # C: no gradient, skipped
        self.train_disc = opt["disc"].minimize(self.loss_disc, var_list=self.disc_vars)
        pre_opt = tf.train.AdamOptimizer(cfg["lr"], beta1=cfg["beta1"], name="AdamPretrain")
        self.train_pre = pre_opt.minimize(self.loss_pre, var_list=self.enc_vars)
        self.pretrain_variables = pre_opt.variables()

    def phase2_step(self, sess, idx, y_gen, seeds: dict, feeds: dict | None = None) -> dict:
        """One phase-2 iteration (``caleg.py`` L306-329): the encoder, decoder and discriminator executions in this
        order, each with its own forward pass, on the same batch ``idx`` and generated labels ``y_gen`` (ignored
        for r <= 0). ``seeds``: the execution seed of each ("enc", "dec", "disc"); ``feeds`` (tests): extra feeds
        per execution, e.g. draws of their own for the tensors of ``ops.RANDOM_DRAWS``. The encoder execution
        draws the generated codes and stores them for the other two."""
        feeds = feeds or {}
        feed = {self.batch_idx: idx}
        enc_fetch = {"train": self.train_enc, "z": self.z, "rec": self.loss_rec, "mmd": self.loss_mmd,
                     "ce": self.loss_ce, "enc": self.loss_enc, "train_acc": self.train_acc}
        if self.aug:
            feed[self.y_gen] = y_gen
            enc_fetch["z_gen"] = self.store_z_gen
        out = sess.run(enc_fetch, {**feed, self.step_seed: seeds["enc"], **feeds.get("enc", {})})
        out.update(sess.run({"train": self.train_dec, "dec": self.loss_dec},
                            {**feed, self.step_seed: seeds["dec"], **feeds.get("dec", {})}))
        disc_fetch = {"train": self.train_disc, "disc": self.loss_disc, "critic": self.loss_critic,
                      "gp": self.loss_gp}
        if self.aug:
            disc_fetch["accepted"] = self.accepted
        out.update(sess.run(disc_fetch, {**feed, self.step_seed: seeds["disc"], **feeds.get("disc", {})}))
        del out["train"]
        return out

    def saved_variables(self):
        """Everything but the pretraining optimiser's slots (pretraining is over before the first checkpoint)."""
        skip = {v.name for v in self.pretrain_variables}
        return [v for v in tf.global_variables() if v.name not in skip]

    # -- parameter counts ----------------------------------------------------------------------------------
    def parameter_counts(self) -> dict:
        def count(vs):
            return int(sum(np.prod(v.shape.as_list()) for v in vs))

        gen_only = [v for v in self.gen_vars if v not in self.cls_vars]
        return {"encoder": count(self.enc_vars), "generator": count(gen_only), "classifier": count(self.cls_vars),
                "discriminator": count(self.disc_vars)}
