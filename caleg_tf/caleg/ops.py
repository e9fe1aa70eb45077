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

Random numbers inside the graph (input noise, prior samples, generated codes, gradient-penalty pairing and
mixing weights) come from *stateless* ops: each op's seed is (the execution's seed words) + (the op's number in
the graph), and the training loop feeds a seed that is a function of the run seed and the position in the run
(epoch, step, which execution). The same draws, in distribution, as the original's stateful ops, but a run
resumed from a checkpoint draws exactly what an uninterrupted run draws (``train.py``).
"""
from __future__ import annotations

from .tfcompat import tf

BN_EPS = 1e-5
BN_DECAY = 0.9
STEP_SEED = "caleg_step_seed"
RANDOM_OPS = "caleg_random_ops"
MAX_RANDOM_OPS = 1024  # op numbers are added to the first seed word, which the loop spaces by this much
RANDOM_DRAWS = "caleg_random_draws"


def step_seed():
    """The graph's execution seed: an int64 [2] input, fed by the training loop at every ``session.run``
    (default (0, 0), for tests that drive the graph by hand). Created once per graph, outside any scope."""
    g = tf.get_default_graph()
    found = g.get_collection(STEP_SEED)
    if found:
        return found[0]
    with g.control_dependencies(None), g.name_scope(None):  # also outside any tf.cond branch
        seed = tf.placeholder_with_default(tf.constant([0, 0], tf.int64), [2], name="step_seed")
    g.add_to_collection(STEP_SEED, seed)
    return seed


def op_seed():
    """A seed of its own for one stateless random op: the execution seed plus (op number, 0)."""
    g = tf.get_default_graph()
    base = step_seed()
    k = len(g.get_collection(RANDOM_OPS))
    if k >= MAX_RANDOM_OPS:
        raise ValueError(f"more than {MAX_RANDOM_OPS} random ops in one graph")
    g.add_to_collection(RANDOM_OPS, k)
    return base + tf.constant([k, 0], tf.int64)


def _record(result):
    """Note the standard draw inside a stateless random op (its result is ``add(draw * scale, shift)``) in the
    graph's ``RANDOM_DRAWS`` collection, in the order of the op numbers, so that a test can feed draws of its own
    in its place. Adds no op to the graph (the initial weights, seeded by op count, stay the same)."""
    draw = result.op.inputs[0].op.inputs[0]
    tf.get_default_graph().add_to_collection(RANDOM_DRAWS, draw)
    return result


def random_normal(shape, std: float = 1.0):
    return _record(tf.random.stateless_normal(shape, op_seed(), stddev=std, dtype=tf.float32))


def random_uniform(shape, minval=0.0, maxval=1.0, dtype=tf.float32):
    result = tf.random.stateless_uniform(shape, op_seed(), minval=minval, maxval=maxval, dtype=dtype)
    return _record(result) if dtype.is_floating else result


def random_permutation(n):
    """A uniformly random permutation of range(n) (the argsort of n uniform draws)."""
    return tf.argsort(tf.random.stateless_uniform(tf.reshape(n, [1]), op_seed()), stable=True)


def add_noise(x, std: float = 0.01):
    """The encoder's and discriminator's input noise (``e_noise = 'add_noise'``): truncated N(0, std)."""
    return x + _record(tf.random.stateless_truncated_normal(tf.shape(x), op_seed(), 0.0, std, dtype=tf.float32))


def linear(x, out_dim: int, scope: str, init_std: float, init_bias: float = 0.0):
    """``x @ W + b`` with W ~ N(0, init_std), b = init_bias."""
    in_dim = int(x.shape[-1])
    with tf.variable_scope(scope):
        w = tf.get_variable("W", [in_dim, int(out_dim)], tf.float32, tf.random_normal_initializer(stddev=init_std))
        b = tf.get_variable("b", [int(out_dim)], tf.float32, tf.constant_initializer(init_bias))
    return tf.matmul(x, w) + b


def conv2d(x, out_ch: int, kernel: int, stride: int, scope: str, init_std: float):
    in_ch = int(x.shape[-1])
    with tf.variable_scope(scope):
        w = tf.get_variable("filter", [kernel, kernel, in_ch, int(out_ch)], tf.float32,
                            tf.truncated_normal_initializer(stddev=init_std))
        b = tf.get_variable("b", [int(out_ch)], tf.float32, tf.constant_initializer(0.0))
    return tf.nn.bias_add(tf.nn.conv2d(x, w, [1, stride, stride, 1], "SAME"), b)


def deconv2d(x, out_hw: tuple[int, int], out_ch: int, kernel: int, stride: int, scope: str, init_std: float):
    """Transposed convolution to the spatial size ``out_hw`` (batch size taken from the input)."""
    out_h, out_w = (int(v) for v in out_hw)
    in_ch = int(x.shape[-1])
    with tf.variable_scope(scope):
        w = tf.get_variable("filter", [kernel, kernel, int(out_ch), in_ch], tf.float32,
                            tf.random_normal_initializer(stddev=init_std))
        b = tf.get_variable("b", [int(out_ch)], tf.float32, tf.constant_initializer(0.0))
    shape = tf.stack([tf.shape(x)[0], out_h, out_w, int(out_ch)])
    y = tf.nn.conv2d_transpose(x, w, shape, [1, stride, stride, 1], "SAME")
    y = tf.reshape(y, [-1, out_h, out_w, int(out_ch)])  # static shape for the layers after it
    return tf.nn.bias_add(y, b)


def batch_norm(x, training: bool, scope: str, eps: float = BN_EPS, decay: float = BN_DECAY):
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
        return tf.nn.batch_normalization(x, moving_mean, moving_var, beta, gamma, eps)
    mean, var = tf.nn.moments(x, axes)
    # assign_moving_average without zero debiasing: m <- m - (1 - decay) (m - batch value)
    upd_m = tf.assign_sub(moving_mean, (1.0 - decay) * (moving_mean - mean))
    upd_v = tf.assign_sub(moving_var, (1.0 - decay) * (moving_var - var))
    with tf.control_dependencies([upd_m, upd_v]):
        mean, var = tf.identity(mean), tf.identity(var)
    return tf.nn.batch_normalization(x, mean, var, beta, gamma, eps)
