"""A small reverse-mode automatic differentiation in NumPy (float64), for the methods' reference-step tests.

Independent of every framework: a ``V`` holds a value and, for each input, a function that maps the gradient of
the output to the gradient of that input. Each such function is itself written with ``V`` operations, so a
gradient is again a differentiable expression: ``grad(..., create_graph=True)`` gives gradients that can be
differentiated once more (a WGAN-GP critic's gradient penalty needs that); without it plain values are propagated.

The ops are the ones the reference networks use: elementwise arithmetic with broadcasting, matmul, sums and means,
indexing, reshape, transpose, concat, exp / log / sqrt / tanh / sigmoid, (leaky) ReLU, clip, softmax and
log-softmax, 2x2 max-pool, nearest 2x upsampling, ``conv2d`` and ``conv2d_transpose``. The convolutions take both
frameworks' conventions as parameters of the same ops:

- ``layout``: ``"NCHW"`` (PyTorch: images [N, C, H, W], filters [C_out, C_in, k, k]) or ``"NHWC"`` (TensorFlow:
  images [N, H, W, C], filters [k, k, C_in, C_out]);
- ``padding``: an int (PyTorch's explicit padding, the same on every side) or ``"SAME"`` (TensorFlow's rule:
  ``ceil(size / stride)`` outputs, ``pad_total = max((out - 1) stride + k - size, 0)``, ``pad_total // 2`` before).

``conv2d_transpose(y, w, ...)`` is the exact adjoint of ``conv2d(., w, ...)`` with the same filter array, as both
frameworks define it (TensorFlow's ``conv2d_transpose`` filter [k, k, C_out, C_in] and PyTorch's
``conv_transpose2d`` weight [C_in, C_out, k, k] are that convolution's filter).
"""
from __future__ import annotations

import numpy as np


class V:
    __array_priority__ = 100  # numpy arrays on the left defer to V's operators

    def __init__(self, value, parents=()):
        self.v = np.asarray(value, dtype=np.float64)
        self.parents = tuple(parents)  # (V, backward function: upstream V -> V of this parent's shape)

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
        return mul(self, reciprocal(as_v(o)))

    def __rtruediv__(self, o):
        return mul(as_v(o), reciprocal(self))

    def __neg__(self):
        return neg(self)

    def __matmul__(self, o):
        return matmul(self, as_v(o))

    def __getitem__(self, idx):
        return getitem(self, idx)


def as_v(x) -> V:
    return x if isinstance(x, V) else V(x)


def const(x) -> V:
    """A value with no parents: no gradient flows through it."""
    return V(x.v if isinstance(x, V) else x)


# -- elementwise ---------------------------------------------------------------------------------------------------
def _unbroadcast(g: V, shape) -> V:
    """Sum a gradient over the axes that broadcasting added or stretched."""
    while len(g.shape) > len(shape):
        g = sum_(g, axis=0)
    for ax, n in enumerate(shape):
        if n == 1 and g.shape[ax] != 1:
            g = sum_(g, axis=ax, keepdims=True)
    return g


def add(a, b) -> V:
    a, b = as_v(a), as_v(b)
    return V(a.v + b.v, [(a, lambda g: _unbroadcast(g, a.shape)), (b, lambda g: _unbroadcast(g, b.shape))])


def neg(a: V) -> V:
    return V(-a.v, [(a, lambda g: neg(g))])


def mul(a, b) -> V:
    a, b = as_v(a), as_v(b)
    return V(a.v * b.v, [(a, lambda g: _unbroadcast(g * b, a.shape)), (b, lambda g: _unbroadcast(g * a, b.shape))])


def reciprocal(a: V) -> V:
    out = V(1.0 / a.v)
    out.parents = ((a, lambda g: neg(g * out * out)),)
    return out


def exp(a: V) -> V:
    out = V(np.exp(a.v))
    out.parents = ((a, lambda g: g * out),)
    return out


def log(a: V) -> V:
    return V(np.log(a.v), [(a, lambda g: g / a)])


def sqrt(a: V) -> V:
    out = V(np.sqrt(a.v))
    out.parents = ((a, lambda g: g * 0.5 / out),)
    return out


def square(a: V) -> V:
    return a * a


def tanh(a: V) -> V:
    out = V(np.tanh(a.v))
    out.parents = ((a, lambda g: g * (1.0 - out * out)),)
    return out


def sigmoid(a: V) -> V:
    out = V(1.0 / (1.0 + np.exp(-a.v)))
    out.parents = ((a, lambda g: g * out * (1.0 - out)),)
    return out


def leaky_relu(a: V, slope: float) -> V:
    d = np.where(a.v > 0, 1.0, slope)  # the slope at 0 is ``slope``, as both frameworks' ReLU gradients
    return V(a.v * d, [(a, lambda g: g * d)])


def relu(a: V) -> V:
    return leaky_relu(a, 0.0)


def clip(a: V, lo: float, hi: float) -> V:
    mask = ((a.v >= lo) & (a.v <= hi)).astype(np.float64)  # TensorFlow passes the gradient inside [lo, hi]
    return V(np.clip(a.v, lo, hi), [(a, lambda g: g * mask)])


# -- reductions and shapes -----------------------------------------------------------------------------------------
def _axes(ndim: int, axis):
    return tuple(range(ndim)) if axis is None else tuple(int(i) for i in np.atleast_1d(axis) % max(ndim, 1))


def sum_(a: V, axis=None, keepdims=False) -> V:
    shape = a.shape
    axes = _axes(len(shape), axis)

    def back(g):
        if not keepdims:
            g = reshape(g, [1 if i in axes else n for i, n in enumerate(shape)])
        return broadcast_to(g, shape)

    return V(np.sum(a.v, axis=axes, keepdims=keepdims), [(a, back)])


def mean(a: V, axis=None, keepdims=False) -> V:
    n = int(np.prod([a.shape[i] for i in _axes(a.v.ndim, axis)]))
    return sum_(a, axis, keepdims) * (1.0 / n)


def broadcast_to(a: V, shape) -> V:
    shape = tuple(shape)
    return V(np.broadcast_to(a.v, shape).copy(), [(a, lambda g: _unbroadcast(g, a.shape))])


def reshape(a: V, shape) -> V:
    old = a.shape
    return V(a.v.reshape(shape), [(a, lambda g: reshape(g, old))])


def transpose(a: V, axes=None) -> V:
    axes = tuple(reversed(range(a.v.ndim))) if axes is None else tuple(axes)
    inv = tuple(np.argsort(axes))
    return V(np.transpose(a.v, axes), [(a, lambda g: transpose(g, inv))])


def matmul(a: V, b: V) -> V:
    return V(a.v @ b.v, [(a, lambda g: matmul(g, transpose(b))), (b, lambda g: matmul(transpose(a), g))])


def linear(x: V, w: V, b=None) -> V:
    """``x @ w.T + b`` with PyTorch's weight layout [out, in]."""
    out = x @ transpose(w)
    return out if b is None else out + b


def concat(ts, axis: int) -> V:
    ts = [as_v(t) for t in ts]
    bounds = np.cumsum([0] + [t.shape[axis] for t in ts])
    parents = []
    for t, lo, hi in zip(ts, bounds[:-1], bounds[1:]):
        sl = [slice(None)] * t.v.ndim
        sl[axis] = slice(int(lo), int(hi))
        parents.append((t, (lambda s: lambda g: getitem(g, tuple(s)))(sl)))
    return V(np.concatenate([t.v for t in ts], axis=axis), parents)


def getitem(a: V, idx) -> V:
    shape = a.shape
    return V(a.v[idx], [(a, lambda g: scatter(g, idx, shape))])


def scatter(g: V, idx, shape) -> V:
    """The adjoint of ``a[idx]``: zeros of ``shape`` with ``g`` added at ``idx`` (repeated indices add up)."""
    out = np.zeros(shape)
    np.add.at(out, idx, g.v)
    return V(out, [(g, lambda h: getitem(h, idx))])


# -- losses ----------------------------------------------------------------------------------------------------------
def log_softmax(a: V, axis: int = -1) -> V:
    s = a - a.v.max(axis, keepdims=True)  # a constant shift: the result does not depend on it
    return s - log(sum_(exp(s), axis, keepdims=True))


def softmax(a: V, axis: int = -1) -> V:
    e = exp(a - a.v.max(axis, keepdims=True))
    return e / sum_(e, axis, keepdims=True)


def cross_entropy(logits: V, labels) -> V:
    """Mean over the batch of -log softmax(logits)[label]."""
    lp = log_softmax(logits)
    return -mean(lp[np.arange(len(labels)), np.asarray(labels)])


def mse(a: V, b) -> V:
    d = a - b
    return mean(d * d)


# -- pooling and upsampling (2x2) ---------------------------------------------------------------------------------
def _to_nchw(a: V, layout: str) -> V:
    return a if layout == "NCHW" else transpose(a, (0, 3, 1, 2))


def _from_nchw(a: V, layout: str) -> V:
    return a if layout == "NCHW" else transpose(a, (0, 2, 3, 1))


def maxpool2(a: V, layout: str = "NCHW") -> V:
    """2x2 max-pool, stride 2 (the gradient goes to the first maximum of each window, as PyTorch's)."""
    x = _to_nchw(a, layout)
    n, c, h, w = x.shape
    win = x.v.reshape(n, c, h // 2, 2, w // 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h // 2, w // 2, 4)
    arg = win.argmax(-1)
    i, j = np.meshgrid(np.arange(h // 2), np.arange(w // 2), indexing="ij")
    idx = (np.arange(n)[:, None, None, None], np.arange(c)[None, :, None, None], 2 * i + arg // 2, 2 * j + arg % 2)
    return _from_nchw(getitem(x, idx), layout)


def upsample2(a: V, layout: str = "NCHW") -> V:
    """Nearest-neighbour upsampling by 2."""
    x = _to_nchw(a, layout)
    n, c, h, w = x.shape
    up = broadcast_to(reshape(x, (n, c, h, 1, w, 1)), (n, c, h, 2, w, 2))
    return _from_nchw(reshape(up, (n, c, 2 * h, 2 * w)), layout)


# -- convolutions ------------------------------------------------------------------------------------------------------
def same_padding(size: int, k: int, s: int):
    """TensorFlow's SAME padding along one axis: (outputs, pad before, pad after)."""
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return out, total // 2, total - total // 2


def _pads(h: int, w: int, k: int, s: int, padding):
    """(pad top, bottom, left, right) of a convolution over an [h, w] input."""
    if isinstance(padding, str):
        if padding.upper() != "SAME":
            raise ValueError(f"padding must be an int or 'SAME', not {padding!r}")
        _, pt, pb = same_padding(h, k, s)
        _, pl, pr = same_padding(w, k, s)
        return pt, pb, pl, pr
    p = int(padding)
    return p, p, p, p


def _out_size(size: int, k: int, s: int, before: int, after: int) -> int:
    return (size + before + after - k) // s + 1


# The core works on NHWC images and [k, k, C_in, C_out] filters with explicit pads (top, bottom, left, right).
def _patches(x: np.ndarray, k: int, s: int, pads):
    """[N, H, W, C] -> [N, oh, ow, k, k, C]: the patches of the padded input."""
    pt, pb, pl, pr = pads
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    oh, ow = _out_size(x.shape[1], k, s, pt, pb), _out_size(x.shape[2], k, s, pl, pr)
    rows = (np.arange(oh) * s)[:, None] + np.arange(k)[None, :]  # [oh, k] into the padded input
    cols = (np.arange(ow) * s)[:, None] + np.arange(k)[None, :]
    return xp[:, rows[:, None, :, None], cols[None, :, None, :], :]


def _unpatch(p: np.ndarray, h: int, w: int, k: int, s: int, pads):
    """The adjoint of ``_patches``: add every patch back at its place, then drop the padding."""
    pt, pb, pl, pr = pads
    n, oh, ow, c = p.shape[0], p.shape[1], p.shape[2], p.shape[-1]
    out = np.zeros((n, h + pt + pb, w + pl + pr, c))
    for a in range(k):
        for b in range(k):
            out[:, a:a + s * (oh - 1) + 1:s, b:b + s * (ow - 1) + 1:s, :] += p[:, :, :, a, b, :]
    return out[:, pt:pt + h, pl:pl + w, :]


def _conv(x: V, w: V, s: int, pads) -> V:
    k = w.shape[0]
    y = np.einsum("nijabc,abco->nijo", _patches(x.v, k, s, pads), w.v)
    return V(y, [(x, lambda g: _conv_adjoint(g, w, s, pads, x.shape[1:3])),
                 (w, lambda g: _conv_filter_grad(x, g, k, s, pads))])


def _conv_adjoint(y: V, w: V, s: int, pads, hw) -> V:
    k = w.shape[0]
    x = _unpatch(np.einsum("nijo,abco->nijabc", y.v, w.v), hw[0], hw[1], k, s, pads)
    return V(x, [(y, lambda g: _conv(g, w, s, pads)), (w, lambda g: _conv_filter_grad(g, y, k, s, pads))])


def _conv_filter_grad(x: V, g: V, k: int, s: int, pads) -> V:
    """d/dw of sum(g * conv(x, w)): [k, k, C_in, C_out]."""
    out = np.einsum("nijabc,nijo->abco", _patches(x.v, k, s, pads), g.v)
    return V(out, [(x, lambda h: _conv_adjoint(g, h, s, pads, x.shape[1:3])), (g, lambda h: _conv(x, h, s, pads))])


def _check_layout(layout: str):
    if layout not in ("NCHW", "NHWC"):
        raise ValueError(f"layout must be 'NCHW' or 'NHWC', not {layout!r}")


def conv2d(x: V, w: V, stride: int = 1, padding=0, layout: str = "NCHW") -> V:
    """Cross-correlation without bias (add it separately). ``layout`` "NCHW": x [N, C, H, W], w [C_out, C_in, k, k]
    (PyTorch); "NHWC": x [N, H, W, C], w [k, k, C_in, C_out] (TensorFlow). ``padding``: an int (on every side) or
    "SAME"."""
    _check_layout(layout)
    if layout == "NCHW":
        return transpose(conv2d(transpose(x, (0, 2, 3, 1)), transpose(w, (2, 3, 1, 0)), stride, padding, "NHWC"),
                         (0, 3, 1, 2))
    if w.shape[0] != w.shape[1]:
        raise ValueError(f"square filters only, got {w.shape}")
    return _conv(x, w, stride, _pads(x.shape[1], x.shape[2], w.shape[0], stride, padding))


def conv2d_transpose(y: V, w: V, stride: int = 1, padding=0, out_size=None, layout: str = "NCHW") -> V:
    """The adjoint of ``conv2d(., w, stride, padding, layout)`` on inputs of spatial size ``out_size`` (h, w); ``w``
    is that convolution's filter. ``out_size`` is required for "SAME"; for an int padding it defaults to
    ``(in - 1) stride + k - 2 padding`` (PyTorch's ``conv_transpose2d`` without output padding)."""
    _check_layout(layout)
    if layout == "NCHW":
        return transpose(conv2d_transpose(transpose(y, (0, 2, 3, 1)), transpose(w, (2, 3, 1, 0)), stride, padding,
                                          out_size, "NHWC"), (0, 3, 1, 2))
    k = w.shape[0]
    if out_size is None:
        if isinstance(padding, str):
            raise ValueError("conv2d_transpose with SAME padding needs out_size")
        out_size = tuple((n - 1) * stride + k - 2 * int(padding) for n in y.shape[1:3])
    h, wd = out_size
    pads = _pads(h, wd, k, stride, padding)
    if (_out_size(h, k, stride, pads[0], pads[1]), _out_size(wd, k, stride, pads[2], pads[3])) != y.shape[1:3]:
        raise ValueError(f"out_size {out_size} does not convolve to the input's {y.shape[1:3]}")
    return _conv_adjoint(y, w, stride, pads, (h, wd))


# -- differentiation ---------------------------------------------------------------------------------------------
def _topo(out: V):
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


def grad(out: V, wrt, create_graph: bool = False):
    """Gradients (``V``s) of the scalar ``out`` with respect to each ``V`` in ``wrt`` (zeros where it does not
    depend on it).

    ``create_graph``: keep the gradients differentiable (for a second derivative); otherwise plain values are
    propagated, which is faster.
    """
    grads = {id(out): V(np.ones_like(out.v))}
    for node in reversed(_topo(out)):
        g = grads.get(id(node))
        if g is None:
            continue
        for p, back in node.parents:
            gp = back(g)
            if id(p) in grads:
                gp = grads[id(p)] + gp
            grads[id(p)] = gp if create_graph else V(gp.v)
    res = []
    for t in wrt:
        g = grads.get(id(t))
        res.append(g if g is not None else V(np.zeros_like(t.v)))
    return res
