"""Layers with the original's initialisation and ``tf.contrib`` batch-norm semantics (``ops.py`` of
anonymous184/CaLeG@096caad).

* linear W ~ N(0, init_std), conv filters ~ truncated N(0, init_std), transposed-conv filters ~ N(0, init_std),
  biases 0, with ``init_std = 0.0099999``;
* batch norm as ``tf.contrib.layers.batch_norm(center, scale, epsilon=1e-5, decay=0.9, fused=False,
  updates_collections=None)``: in training mode the batch's (biased) moments normalise it and the moving
  averages are updated in place as a control dependency of that call's output, so *every* evaluated
  training-mode forward updates them, as in the original; in inference mode the moving averages are used.

Raw variables and ``tf.nn`` ops only (no Keras layer classes), so the variable names and counts are the
original's and the whole graph is plain TF1.
"""
from __future__ import annotations

from .tfcompat import tf

BN_EPS = 1e-5
BN_DECAY = 0.9


def add_noise(x, std: float = 0.01):
    """The encoder's and discriminator's input noise (``e_noise = 'add_noise'``): truncated N(0, std)."""
    return x + tf.truncated_normal(tf.shape(x), 0.0, std, dtype=tf.float32)


def linear(x, out_dim: int, scope: str, init_std: float):
    in_dim = int(x.shape[-1])
    with tf.variable_scope(scope):
        w = tf.get_variable("W", [in_dim, int(out_dim)], tf.float32, tf.random_normal_initializer(stddev=init_std))
        b = tf.get_variable("b", [int(out_dim)], tf.float32, tf.constant_initializer(0.0))
    return tf.matmul(x, w) + b


def conv2d(x, out_ch: int, kernel: int, stride: int, scope: str, init_std: float):
    in_ch = int(x.shape[-1])
    with tf.variable_scope(scope):
        w = tf.get_variable("filter", [kernel, kernel, in_ch, int(out_ch)], tf.float32,
                            tf.truncated_normal_initializer(stddev=init_std))
        b = tf.get_variable("b", [int(out_ch)], tf.float32, tf.constant_initializer(0.0))
    return tf.nn.bias_add(tf.nn.conv2d(x, w, [1, stride, stride, 1], "SAME"), b)


def deconv2d(x, out_h: int, out_w: int, out_ch: int, kernel: int, stride: int, scope: str, init_std: float):
    """Transposed convolution with an explicit output shape (batch size taken from the input)."""
    in_ch = int(x.shape[-1])
    with tf.variable_scope(scope):
        w = tf.get_variable("filter", [kernel, kernel, int(out_ch), in_ch], tf.float32,
                            tf.random_normal_initializer(stddev=init_std))
        b = tf.get_variable("b", [int(out_ch)], tf.float32, tf.constant_initializer(0.0))
    shape = tf.stack([tf.shape(x)[0], out_h, out_w, int(out_ch)])
    y = tf.nn.conv2d_transpose(x, w, shape, [1, stride, stride, 1], "SAME")
    y = tf.reshape(y, [-1, out_h, out_w, int(out_ch)])  # static shape for the layers after it
    return tf.nn.bias_add(y, b)


def batch_norm(x, training: bool, scope: str):
    """contrib batch norm; ``training`` is a Python bool (training and inference paths are separate graphs,
    which is what the original's ``is_training`` placeholder selected at run time)."""
    ch = int(x.shape[-1])
    axes = list(range(len(x.shape) - 1))
    with tf.variable_scope(scope):
        beta = tf.get_variable("beta", [ch], tf.float32, tf.zeros_initializer())
        gamma = tf.get_variable("gamma", [ch], tf.float32, tf.ones_initializer())
        moving_mean = tf.get_variable("moving_mean", [ch], tf.float32, tf.zeros_initializer(), trainable=False)
        moving_var = tf.get_variable("moving_variance", [ch], tf.float32, tf.ones_initializer(), trainable=False)
    if not training:
        return tf.nn.batch_normalization(x, moving_mean, moving_var, beta, gamma, BN_EPS)
    mean, var = tf.nn.moments(x, axes)
    # assign_moving_average without zero debiasing: m <- m - (1 - decay) (m - batch value)
    upd_m = tf.assign_sub(moving_mean, (1.0 - BN_DECAY) * (moving_mean - mean))
    upd_v = tf.assign_sub(moving_var, (1.0 - BN_DECAY) * (moving_var - var))
    with tf.control_dependencies([upd_m, upd_v]):
        mean, var = tf.identity(mean), tf.identity(var)
    return tf.nn.batch_normalization(x, mean, var, beta, gamma, BN_EPS)
