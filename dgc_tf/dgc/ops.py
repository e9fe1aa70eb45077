"""Layers with the original initialisation and batch-norm semantics (the original's `ops.py` L5-93).

The original builds its networks from WAE-style helpers on top of ``tf.contrib``. These are the same layers on
raw ``tf.compat.v1`` ops, so no Keras layer class is involved:

* linear weights ~ N(0, init_std), conv filters ~ truncated N(0, init_std), transposed-conv filters
  ~ N(0, init_std), every bias 0 (``init_std = 0.0099999``, ``init_bias = 0``);
* batch norm as ``tf.contrib.layers.batch_norm(center=True, scale=True, epsilon=1e-5, decay=0.9,
  updates_collections=None, fused=False)``: in training mode the batch statistics normalise the batch and the
  moving averages are updated *in place on every training-mode forward pass* (the update is a control
  dependency of the output, so pretraining and LVO passes update them too); in inference mode the moving
  averages are used.
"""
from __future__ import annotations

from .tfcompat import tf

BN_EPS = 1e-5
BN_DECAY = 0.9


def linear(x, out_dim: int, scope: str, init_std: float, init_bias: float = 0.0):
    """``x @ W + b`` with W ~ N(0, init_std)."""
    in_dim = int(x.shape[-1])
    with tf.variable_scope(scope):
        w = tf.get_variable("W", [in_dim, out_dim], tf.float32, tf.random_normal_initializer(stddev=init_std))
        b = tf.get_variable("b", [out_dim], tf.float32, tf.constant_initializer(init_bias))
    return tf.matmul(x, w) + b


def conv2d(x, out_ch: int, kernel: int, stride: int, scope: str, init_std: float):
    """SAME-padded convolution, filters ~ truncated N(0, init_std), zero bias."""
    in_ch = int(x.shape[-1])
    with tf.variable_scope(scope):
        w = tf.get_variable("filter", [kernel, kernel, in_ch, int(out_ch)], tf.float32,
                            tf.truncated_normal_initializer(stddev=init_std))
        b = tf.get_variable("b", [int(out_ch)], tf.float32, tf.constant_initializer(0.0))
    y = tf.nn.conv2d(x, w, strides=[1, stride, stride, 1], padding="SAME")
    return tf.nn.bias_add(y, b)


def deconv2d(x, out_hw: tuple[int, int], out_ch: int, kernel: int, stride: int, scope: str, init_std: float):
    """SAME-padded transposed convolution to a fixed spatial size; filters ~ N(0, init_std), zero bias."""
    in_ch = int(x.shape[-1])
    with tf.variable_scope(scope):
        w = tf.get_variable("filter", [kernel, kernel, int(out_ch), in_ch], tf.float32,
                            tf.random_normal_initializer(stddev=init_std))
        b = tf.get_variable("b", [int(out_ch)], tf.float32, tf.constant_initializer(0.0))
    out_shape = tf.stack([tf.shape(x)[0], int(out_hw[0]), int(out_hw[1]), int(out_ch)])
    y = tf.nn.conv2d_transpose(x, w, out_shape, strides=[1, stride, stride, 1], padding="SAME")
    y = tf.reshape(y, [-1, int(out_hw[0]), int(out_hw[1]), int(out_ch)])  # static shape for later layers
    return tf.nn.bias_add(y, b)


def batch_norm(x, training: bool, scope: str, eps: float = BN_EPS, decay: float = BN_DECAY):
    """contrib-style batch norm over all axes but the last (see the module docstring).

    ``training`` is a Python bool: the training and inference graphs are built separately, which is what the
    original's ``is_training`` placeholder selected at run time.
    """
    ch = int(x.shape[-1])
    axes = list(range(len(x.shape) - 1))
    with tf.variable_scope(scope):
        beta = tf.get_variable("beta", [ch], tf.float32, tf.zeros_initializer())
        gamma = tf.get_variable("gamma", [ch], tf.float32, tf.ones_initializer())
        moving_mean = tf.get_variable("moving_mean", [ch], tf.float32, tf.zeros_initializer(), trainable=False)
        moving_var = tf.get_variable("moving_variance", [ch], tf.float32, tf.ones_initializer(), trainable=False)
    if not training:
        return tf.nn.batch_normalization(x, moving_mean, moving_var, beta, gamma, eps)
    mean, var = tf.nn.moments(x, axes)  # biased variance, as the non-fused contrib layer uses for both
    upd_mean = tf.assign_sub(moving_mean, (moving_mean - mean) * (1.0 - decay))
    upd_var = tf.assign_sub(moving_var, (moving_var - var) * (1.0 - decay))
    with tf.control_dependencies([upd_mean, upd_var]):
        return tf.nn.batch_normalization(x, mean, var, beta, gamma, eps)
