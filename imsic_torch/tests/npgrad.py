"""A tiny reverse-mode autodiff in plain NumPy (float64) for the reference-step tests. No framework imported.

``V`` wraps an array; every op records its parents and a function from the output's gradient to the parents'
gradients; ``grad(out, leaves)`` runs the chain rule in reverse topological order. Only the ops the reference
networks need: elementwise arithmetic with broadcasting, matmul, sums and means, indexing, reshape, concat,
exp/log/tanh/sqrt, (leaky) ReLU, 2x2 max-pool, nearest 2x upsampling, conv2d and conv_transpose2d.
"""
from __future__ import annotations

import numpy as np


class V:
    def __init__(self, value, parents=(), backward=None):
        self.v = np.asarray(value, dtype=np.float64)
        self.parents = parents
        self.backward = backward

    shape = property(lambda self: self.v.shape)

    def __add__(self, o):
        return add(self, o)

    __radd__ = __add__

    def __sub__(self, o):
        return add(self, neg(as_v(o)))

    def __rsub__(self, o):
        return add(as_v(o), neg(self))

    def __mul__(self, o):
        return mul(self, o)

    __rmul__ = __mul__

    def __truediv__(self, o):
        o = as_v(o)
        return mul(self, power(o, -1.0))

    def __neg__(self):
        return neg(self)

    def __pow__(self, k):
        return power(self, k)

    def __getitem__(self, key):
        return getitem(self, key)


def as_v(x) -> V:
    return x if isinstance(x, V) else V(x)


def const(x) -> V:
    """A value with no parents (no gradient flows through it)."""
    return V(x.v if isinstance(x, V) else x)


def _unbroadcast(g, shape):
    while g.ndim > len(shape):
        g = g.sum(0)
    for i, n in enumerate(shape):
        if n == 1 and g.shape[i] != 1:
            g = g.sum(i, keepdims=True)
    return g


def add(a, b):
    a, b = as_v(a), as_v(b)
    return V(a.v + b.v, (a, b), lambda g: (_unbroadcast(g, a.shape), _unbroadcast(g, b.shape)))


def neg(a):
    return V(-a.v, (a,), lambda g: (-g,))


def mul(a, b):
    a, b = as_v(a), as_v(b)
    return V(a.v * b.v, (a, b), lambda g: (_unbroadcast(g * b.v, a.shape), _unbroadcast(g * a.v, b.shape)))


def power(a, k: float):
    return V(a.v ** k, (a,), lambda g: (g * k * a.v ** (k - 1),))


def matmul(a, b):
    return V(a.v @ b.v, (a, b), lambda g: (g @ b.v.T, a.v.T @ g))


def vsum(a, axis=None, keepdims=False):
    def bw(g):
        if axis is not None and not keepdims:
            g = np.expand_dims(g, axis)
        return (np.broadcast_to(g, a.shape).copy(),)
    return V(a.v.sum(axis=axis, keepdims=keepdims), (a,), bw)


def mean(a, axis=None, keepdims=False):
    n = a.v.size if axis is None else np.prod([a.shape[i] for i in np.atleast_1d(axis)])
    return vsum(a, axis, keepdims) * (1.0 / n)


def getitem(a, key):
    def bw(g):
        out = np.zeros(a.shape)
        np.add.at(out, key, g)
        return (out,)
    return V(a.v[key], (a,), bw)


def reshape(a, shape):
    return V(a.v.reshape(shape), (a,), lambda g: (g.reshape(a.shape),))


def concat(xs, axis):
    sizes = np.cumsum([x.shape[axis] for x in xs])[:-1]
    return V(np.concatenate([x.v for x in xs], axis), tuple(xs), lambda g: tuple(np.split(g, sizes, axis)))


def exp(a):
    out = np.exp(a.v)
    return V(out, (a,), lambda g: (g * out,))


def log(a):
    return V(np.log(a.v), (a,), lambda g: (g / a.v,))


def tanh(a):
    out = np.tanh(a.v)
    return V(out, (a,), lambda g: (g * (1 - out ** 2),))


def sqrt(a):
    out = np.sqrt(a.v)
    return V(out, (a,), lambda g: (g * 0.5 / out,))


def leaky_relu(a, slope):
    d = np.where(a.v > 0, 1.0, slope)
    return V(a.v * d, (a,), lambda g: (g * d,))


def relu(a):
    return leaky_relu(a, 0.0)


def maxpool2(a):
    """2x2 max-pool, stride 2 (the gradient goes to the first maximum of each window, as PyTorch's)."""
    n, c, h, w = a.shape
    win = a.v.reshape(n, c, h // 2, 2, w // 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h // 2, w // 2, 4)
    arg = win.argmax(-1)

    def bw(g):
        gw = np.zeros(win.shape)
        np.put_along_axis(gw, arg[..., None], g[..., None], -1)
        return (gw.reshape(n, c, h // 2, w // 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h, w),)
    return V(win.max(-1), (a,), bw)


def upsample2(a):
    """Nearest-neighbour upsampling by 2."""
    n, c, h, w = a.shape
    out = a.v.repeat(2, 2).repeat(2, 3)
    return V(out, (a,), lambda g: (g.reshape(n, c, h, 2, w, 2).sum((3, 5)),))


def conv2d(x, w, stride=1, pad=0):
    """Cross-correlation, x (N, C, H, W), w (O, C, k, k); no bias (add it separately)."""
    n, c, h, wd = x.shape
    o, _, k, _ = w.shape
    xp = np.pad(x.v, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    ho, wo = (h + 2 * pad - k) // stride + 1, (wd + 2 * pad - k) // stride + 1
    out = np.zeros((n, o, ho, wo))
    sl = lambda p, q: (slice(None), slice(None), slice(p, p + stride * (ho - 1) + 1, stride),
                       slice(q, q + stride * (wo - 1) + 1, stride))
    for p in range(k):
        for q in range(k):
            out += np.einsum("nchw,oc->nohw", xp[sl(p, q)], w.v[:, :, p, q])

    def bw(g):
        gxp, gw = np.zeros(xp.shape), np.zeros(w.shape)
        for p in range(k):
            for q in range(k):
                gw[:, :, p, q] = np.einsum("nohw,nchw->oc", g, xp[sl(p, q)])
                gxp[sl(p, q)] += np.einsum("nohw,oc->nchw", g, w.v[:, :, p, q])
        return gxp[:, :, pad:pad + h, pad:pad + wd], gw
    return V(out, (x, w), bw)


def conv_transpose2d(x, w, stride=1, pad=0):
    """Transposed convolution, x (N, C, H, W), w (C, O, k, k): out[(i s + p) - pad, (j s + q) - pad] +=
    x[i, j] w[p, q]; no bias."""
    n, c, h, wd = x.shape
    _, o, k, _ = w.shape
    fh, fw = (h - 1) * stride + k, (wd - 1) * stride + k
    full = np.zeros((n, o, fh, fw))
    sl = lambda p, q: (slice(None), slice(None), slice(p, p + stride * (h - 1) + 1, stride),
                       slice(q, q + stride * (wd - 1) + 1, stride))
    for p in range(k):
        for q in range(k):
            full[sl(p, q)] += np.einsum("nchw,co->nohw", x.v, w.v[:, :, p, q])
    out = full[:, :, pad:fh - pad, pad:fw - pad]

    def bw(g):
        gf = np.zeros(full.shape)
        gf[:, :, pad:fh - pad, pad:fw - pad] = g
        gx, gw = np.zeros(x.shape), np.zeros(w.shape)
        for p in range(k):
            for q in range(k):
                gx += np.einsum("nohw,co->nchw", gf[sl(p, q)], w.v[:, :, p, q])
                gw[:, :, p, q] = np.einsum("nchw,nohw->co", x.v, gf[sl(p, q)])
        return gx, gw
    return V(out, (x, w), bw)


def linear(x, w, b=None):
    """x (N, I) @ w.T (w: (O, I), PyTorch's layout) + b."""
    out = matmul(x, V_T(w))
    return out if b is None else out + b


def V_T(w):
    return V(w.v.T, (w,), lambda g: (g.T,))


def log_softmax(x):
    shift = x.v.max(1, keepdims=True)  # a constant shift: the result does not depend on it
    s = x - shift
    return s - log(vsum(exp(s), 1, keepdims=True))


def softmax(x):
    s = x - x.v.max(1, keepdims=True)
    e = exp(s)
    return e / vsum(e, 1, keepdims=True)


def cross_entropy(logits, labels):
    """Mean over the batch of -log softmax(logits)[label]."""
    lp = log_softmax(logits)
    return -mean(lp[np.arange(len(labels)), np.asarray(labels)])


def mse(a, b):
    d = a - b
    return mean(d * d)


def grad(out: V, leaves):
    """d out / d leaf for every leaf (zeros where out does not depend on it). ``out`` must be a scalar."""
    order, seen = [], set()

    def visit(node):  # iterative post-order DFS
        stack = [(node, False)]
        while stack:
            v, done = stack.pop()
            if done:
                order.append(v)
                continue
            if id(v) in seen:
                continue
            seen.add(id(v))
            stack.append((v, True))
            for p in v.parents:
                if id(p) not in seen:
                    stack.append((p, False))
    visit(out)
    grads = {id(out): np.ones(out.shape)}
    for v in reversed(order):
        g = grads.get(id(v))
        if g is None or v.backward is None:
            continue
        for p, gp in zip(v.parents, v.backward(g)):
            grads[id(p)] = grads[id(p)] + gp if id(p) in grads else gp
    return [grads.get(id(leaf), np.zeros(leaf.shape)) for leaf in leaves]
