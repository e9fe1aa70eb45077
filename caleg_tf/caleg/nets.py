"""Encoder E, decoder G with the latent classifier C inside its scope, discriminator D (the original's
``models.py``, anonymous184/CaLeG@096caad).

Variable scopes are the original's, because the frozen classifier (fix ``train_classifier_phase2``) follows
from them: C lives in ``generator/classifier`` (``models.py`` L22-23) and the encoder step updates only
``encoder/*`` (``caleg.py`` L92).
"""
from __future__ import annotations

from . import ops
from .tfcompat import tf


def _conv_stack(x, num_filters: int, num_layers: int, kernel: int, training: bool, init_std: float):
    """``num_layers`` x [conv k x k stride 2 -> BN -> ReLU], channels num_filters / 2^(L-1-i) (128..1024)."""
    h = x
    for i in range(num_layers):
        ch = num_filters // 2 ** (num_layers - 1 - i)  # the original computes 1024 / scale as a float
        h = ops.conv2d(h, ch, kernel, 2, f"h{i}_conv", init_std)
        h = tf.nn.relu(ops.batch_norm(h, training, f"h{i}_bn"))
    return tf.reshape(h, [-1, int(h.shape[1]) * int(h.shape[2]) * int(h.shape[3])])


def encoder(x, cfg: dict, training: bool, noise: bool = True):
    """Deterministic WAE encoder: noise(0.01) -> conv stack -> linear to zdim (no activation)."""
    with tf.variable_scope("encoder", reuse=tf.AUTO_REUSE):
        h = ops.add_noise(x, cfg["noise_std"]) if noise else x
        h = _conv_stack(h, cfg["e_num_filters"], cfg["e_num_layers"], cfg["conv_filters_dim"], training,
                        cfg["init_std"])
        return ops.linear(h, cfg["zdim"], "hfinal_lin", cfg["init_std"])


def _classifier(z, cfg: dict):
    with tf.variable_scope("classifier"):
        return ops.linear(z, cfg["num_classes"], "lin", cfg["init_std"])


def classify(z, cfg: dict):
    """C(z) alone (for evaluation), with the same ``generator/classifier`` variables the decoder creates."""
    with tf.variable_scope("generator", reuse=tf.AUTO_REUSE):
        return _classifier(z, cfg)


def decoder(z, cfg: dict, training: bool):
    """``dcgan_mod`` decoder; returns (image in (0, 1), classifier logits C(z)).

    As in the original the linear classifier is built inside this function, hence inside ``generator``.
    """
    h_img, w_img, c_img = cfg["image_shape"]
    n_layers, n_filters, k = cfg["g_num_layers"], cfg["g_num_filters"], cfg["conv_filters_dim"]
    with tf.variable_scope("generator", reuse=tf.AUTO_REUSE):
        logits = _classifier(z, cfg)
        h0 = h_img // 2 ** (n_layers - 1)
        w0 = w_img // 2 ** (n_layers - 1)
        h = ops.linear(z, h0 * w0 * n_filters, "h0_lin", cfg["init_std"])
        h = tf.nn.relu(tf.reshape(h, [-1, h0, w0, n_filters]))
        for i in range(n_layers - 1):
            scale = 2 ** (i + 1)
            h = ops.deconv2d(h, (h0 * scale, w0 * scale), n_filters // scale, k, 2, f"h{i + 1}_deconv",
                             cfg["init_std"])
            h = tf.nn.relu(ops.batch_norm(h, training, f"h{i + 1}_bn"))
        h = ops.deconv2d(h, (h_img, w_img), c_img, k, 1, "hfinal_deconv", cfg["init_std"])
        return tf.nn.sigmoid(h), logits


def discriminator(x, cfg: dict, training: bool, noise: bool = True):
    """D: noise -> conv stack -> linear to zdim -> (class logits, critic value w of shape (n, 1)).

    As in the original (``models.py`` L33, L40-41) the conv stack is built from the *encoder's* e_num_filters /
    e_num_layers; with the fix ``critic_use_d_config`` it uses d_num_filters / d_num_layers.
    """
    if cfg["critic_use_d_config"]:
        n_filters, n_layers = cfg["d_num_filters"], cfg["d_num_layers"]
    else:
        n_filters, n_layers = cfg["e_num_filters"], cfg["e_num_layers"]
    with tf.variable_scope("discriminator", reuse=tf.AUTO_REUSE):
        h = ops.add_noise(x, cfg["noise_std"]) if noise else x
        h = _conv_stack(h, n_filters, n_layers, cfg["conv_filters_dim"], training, cfg["init_std"])
        h = ops.linear(h, cfg["zdim"], "hfinal_lin", cfg["init_std"])
        logits = ops.linear(h, cfg["num_classes"], "class_lin", cfg["init_std"])
        w = ops.linear(h, 1, "critic_lin", cfg["init_std"])
        return logits, w
