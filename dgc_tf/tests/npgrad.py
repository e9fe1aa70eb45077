"""A tiny reverse-mode automatic differentiation in NumPy (float64), for the reference-step tests.

Written for the tests only and independent of the TensorFlow code: a ``T`` holds a value and, for each input,
a function that maps the gradient of the output to the gradient of that input. Every such function is itself
written with ``T`` operations, so a gradient is again a differentiable expression: ``grad`` with
``create_graph=True`` gives gradients that can be differentiated once more (the gradient penalty of a WGAN-GP
critic needs that).

Convolutions follow TensorFlow's SAME padding (``pad_before = pad_total // 2``); ``conv2d_transpose`` is the
exact adjoint of ``conv2d`` (TensorFlow defines it as the gradient of the convolution with respect to its input).
"""
from __future__ import annotations

import numpy as np


class T:
    __array_priority__ = 100  # numpy arrays on the left defer to T's operators

    def __init__(self, value, parents=()):
        self.v = np.asarray(value, dtype=np.float64)
        self.parents = tuple(parents)  # (T, backward function: upstream T -> T of this parent's shape)

    shape = property(lambda self: self.v.shape)

    def __add__(self, o):
        return add(self, o)

    __radd__ = __add__

    def __sub__(self, o):
        return add(self, neg(as_t(o)))

    def __rsub__(self, o):
        return add(as_t(o), neg(self))

    def __mul__(self, o):
        return mul(self, o)

    __rmul__ = __mul__

    def __truediv__(self, o):
        return mul(self, reciprocal(as_t(o)))

    def __rtruediv__(self, o):
        return mul(as_t(o), reciprocal(self))

    def __neg__(self):
        return neg(self)

    def __matmul__(self, o):
        return matmul(self, as_t(o))

    def __getitem__(self, idx):
        return getitem(self, idx)


def as_t(x) -> T:
    return x if isinstance(x, T) else T(x)


def const(x) -> T:
    return T(x)


def _unbroadcast(g: T, shape) -> T:
    """Sum a gradient over the axes that broadcasting added or stretched."""
    while len(g.shape) > len(shape):
        g = sum_(g, axis=0)
    for ax, n in enumerate(shape):
        if n == 1 and g.shape[ax] != 1:
            g = sum_(g, axis=ax, keepdims=True)
    return g


def add(a, b) -> T:
    a, b = as_t(a), as_t(b)
    return T(a.v + b.v, [(a, lambda g: _unbroadcast(g, a.shape)), (b, lambda g: _unbroadcast(g, b.shape))])


def neg(a: T) -> T:
    return T(-a.v, [(a, lambda g: neg(g))])


def mul(a, b) -> T:
    a, b = as_t(a), as_t(b)
    return T(a.v * b.v, [(a, lambda g: _unbroadcast(g * b, a.shape)), (b, lambda g: _unbroadcast(g * a, b.shape))])


def reciprocal(a: T) -> T:
    out = T(1.0 / a.v)
    out.parents = ((a, lambda g: neg(g * out * out)),)
    return out


def exp(a: T) -> T:
    out = T(np.exp(a.v))
    out.parents = ((a, lambda g: g * out),)
    return out


def log(a: T) -> T:
    return T(np.log(a.v), [(a, lambda g: g / a)])


def sqrt(a: T) -> T:
    out = T(np.sqrt(a.v))
    out.parents = ((a, lambda g: g * 0.5 / out),)
    return out


def square(a: T) -> T:
    return a * a


def relu(a: T) -> T:
    mask = (a.v > 0).astype(np.float64)  # its derivative is 0 almost everywhere, as TensorFlow's ReluGrad's
    return T(a.v * mask, [(a, lambda g: g * mask)])


def sigmoid(a: T) -> T:
    out = T(1.0 / (1.0 + np.exp(-a.v)))
    out.parents = ((a, lambda g: g * out * (1.0 - out)),)
    return out


def clip(a: T, lo: float, hi: float) -> T:
    mask = ((a.v >= lo) & (a.v <= hi)).astype(np.float64)  # TensorFlow passes the gradient inside [lo, hi]
    return T(np.clip(a.v, lo, hi), [(a, lambda g: g * mask)])


def sum_(a: T, axis=None, keepdims=False) -> T:
    shape = a.shape
    axes = tuple(range(len(shape))) if axis is None else tuple(np.atleast_1d(axis) % max(len(shape), 1))

    def back(g):
        if not keepdims:
            g = reshape(g, [1 if i in axes else n for i, n in enumerate(shape)])
        return broadcast_to(g, shape)

    return T(np.sum(a.v, axis=axes, keepdims=keepdims), [(a, back)])


def mean(a: T, axis=None, keepdims=False) -> T:
    axes = tuple(range(a.v.ndim)) if axis is None else tuple(np.atleast_1d(axis) % a.v.ndim)
    n = int(np.prod([a.shape[i] for i in axes]))
    return sum_(a, axis, keepdims) * (1.0 / n)


def broadcast_to(a: T, shape) -> T:
    shape = tuple(shape)
    return T(np.broadcast_to(a.v, shape).copy(), [(a, lambda g: _unbroadcast(g, a.shape))])


def reshape(a: T, shape) -> T:
    old = a.shape
    return T(a.v.reshape(shape), [(a, lambda g: reshape(g, old))])


def transpose(a: T, axes=None) -> T:
    axes = tuple(reversed(range(a.v.ndim))) if axes is None else tuple(axes)
    inv = tuple(np.argsort(axes))
    return T(np.transpose(a.v, axes), [(a, lambda g: transpose(g, inv))])


def matmul(a: T, b: T) -> T:
    return T(a.v @ b.v, [(a, lambda g: matmul(g, transpose(b))), (b, lambda g: matmul(transpose(a), g))])


def concat(ts, axis: int) -> T:
    ts = [as_t(t) for t in ts]
    bounds = np.cumsum([0] + [t.shape[axis] for t in ts])
    parents = []
    for t, lo, hi in zip(ts, bounds[:-1], bounds[1:]):
        sl = [slice(None)] * t.v.ndim
        sl[axis] = slice(int(lo), int(hi))
        parents.append((t, (lambda s: lambda g: getitem(g, tuple(s)))(sl)))
    return T(np.concatenate([t.v for t in ts], axis=axis), parents)


def getitem(a: T, idx) -> T:
    shape = a.shape
    return T(a.v[idx], [(a, lambda g: scatter(g, idx, shape))])


def scatter(g: T, idx, shape) -> T:
    """The adjoint of ``a[idx]``: zeros of ``shape`` with ``g`` added at ``idx`` (repeated indices add up)."""
    out = np.zeros(shape)
    np.add.at(out, idx, g.v)
    return T(out, [(g, lambda h: getitem(h, idx))])


def logsumexp(a: T, axis: int = -1, keepdims=False) -> T:
    m = np.max(a.v, axis=axis, keepdims=True)
    s = np.log(np.sum(np.exp(a.v - m), axis=axis, keepdims=True)) + m
    out_v = s if keepdims else np.squeeze(s, axis=axis)

    def back(g):
        soft = exp(a - const(s))  # softmax, differentiable through a
        gk = g if keepdims else reshape(g, s.shape)
        return gk * soft

    return T(out_v, [(a, back)])


def log_softmax(a: T, axis: int = -1) -> T:
    return a - logsumexp(a, axis=axis, keepdims=True)


# -- convolutions (NHWC, filters [k, k, in, out]) -----------------------------------------------------------------
def same_padding(size: int, k: int, s: int):
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return out, total // 2, total - total // 2


def _patch_index(h: int, w: int, k: int, s: int):
    oh, pt, pb = same_padding(h, k, s)
    ow, pl, pr = same_padding(w, k, s)
    rows = (np.arange(oh) * s)[:, None] + np.arange(k)[None, :]  # [oh, k] into the padded input
    cols = (np.arange(ow) * s)[:, None] + np.arange(k)[None, :]
    return oh, ow, (pt, pb, pl, pr), rows, cols


def _patches(x: np.ndarray, k: int, s: int):
    """[N, H, W, C] -> [N, oh, ow, k, k, C] patches of the SAME-padded input."""
    n, h, w, c = x.shape
    oh, ow, (pt, pb, pl, pr), rows, cols = _patch_index(h, w, k, s)
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    return xp[:, rows[:, None, :, None], cols[None, :, None, :], :]


def _unpatch(p: np.ndarray, h: int, w: int, k: int, s: int):
    """The adjoint of ``_patches``: add every patch back at its place, then drop the padding."""
    n, c = p.shape[0], p.shape[-1]
    oh, ow, (pt, pb, pl, pr), rows, cols = _patch_index(h, w, k, s)
    out = np.zeros((n, h + pt + pb, w + pl + pr, c))
    np.add.at(out, (slice(None), rows[:, None, :, None], cols[None, :, None, :], slice(None)), p)
    return out[:, pt:pt + h, pl:pl + w, :]


def conv2d(x: T, w: T, s: int) -> T:
    """SAME convolution with stride ``s``; filters [k, k, C_in, C_out]."""
    k = w.shape[0]
    y = np.einsum("nijabc,abco->nijo", _patches(x.v, k, s), w.v)
    return T(y, [(x, lambda g: conv2d_transpose(g, w, x.shape[1], x.shape[2], s)),
                 (w, lambda g: conv2d_filter_grad(x, g, k, s))])


def conv2d_transpose(y: T, w: T, h: int, wd: int, s: int) -> T:
    """The adjoint of ``conv2d(., w, s)`` on inputs of spatial size (h, wd): [N, oh, ow, C_out] ->
    [N, h, wd, C_in] with ``w`` of shape [k, k, C_in, C_out]."""
    k = w.shape[0]
    x = _unpatch(np.einsum("nijo,abco->nijabc", y.v, w.v), h, wd, k, s)
    return T(x, [(y, lambda g: conv2d(g, w, s)), (w, lambda g: conv2d_filter_grad(g, y, k, s))])


def conv2d_filter_grad(x: T, g: T, k: int, s: int) -> T:
    """d/dw of sum(g * conv2d(x, w)): [k, k, C_in, C_out]."""
    out = np.einsum("nijabc,nijo->abco", _patches(x.v, k, s), g.v)
    return T(out, [(x, lambda h: conv2d_transpose(g, h, x.shape[1], x.shape[2], s)),
                   (g, lambda h: conv2d(x, h, s))])


# -- differentiation ---------------------------------------------------------------------------------------------
def _topo(out: T):
    order, seen, stack = [], set(), [(out, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        for p, _ in node.parents:
            if id(p) not in seen:
                stack.append((p, False))
    return order  # inputs before outputs


def grad(out: T, wrt, create_graph: bool = False):
    """Gradients of the scalar ``out`` with respect to each T in ``wrt`` (zeros where it does not depend on it).

    ``create_graph``: keep the gradients differentiable (for a second derivative); otherwise plain values are
    propagated, which is faster.
    """
    grads = {id(out): T(np.ones_like(out.v))}
    for node in reversed(_topo(out)):
        g = grads.get(id(node))
        if g is None:
            continue
        for p, back in node.parents:
            gp = back(g)
            if not create_graph:
                gp = T(gp.v)
            grads[id(p)] = gp if id(p) not in grads else grads[id(p)] + gp
    res = []
    for t in wrt:
        g = grads.get(id(t))
        res.append(g if g is not None else T(np.zeros_like(t.v)))
    return res
