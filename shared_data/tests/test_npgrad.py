"""``shared_data.testing.npgrad`` against central differences (first and second derivatives of every op, both
padding conventions, both layouts) and against direct loop definitions of the forward ops."""
from functools import reduce

import numpy as np
import pytest

from shared_data.testing import npgrad as ng

H = 1e-6


def _total(vs):
    return reduce(lambda a, b: a + b, vs)


def _entries(shape, rng, n=12):
    """Up to n distinct entries of an array of ``shape``."""
    size = int(np.prod(shape))
    flat = rng.choice(size, min(n, size), replace=False)
    return [np.unravel_index(i, shape) for i in flat]


def _fd(fun, arrays, i, idx):
    up = [a.copy() for a in arrays]
    down = [a.copy() for a in arrays]
    up[i][idx] += H
    down[i][idx] -= H
    return (fun(up) - fun(down)) / (2 * H)


def check_derivatives(fn, arrays, seed=0, n=12):
    """First derivatives of L = sum(tanh(fn(xs)) r), and second derivatives through P = sum_i <dL/dx_i, q_i>
    (gradients taken with ``create_graph``), against central differences, at up to ``n`` entries of each input."""
    rng = np.random.RandomState(seed)
    arrays = [np.asarray(a, np.float64) for a in arrays]
    r = rng.normal(size=fn(*[ng.V(a) for a in arrays]).shape)
    q = [rng.normal(size=a.shape) for a in arrays]

    def loss(vals):
        vs = [ng.V(v) for v in vals]
        return vs, ng.sum_(ng.tanh(fn(*vs)) * r)

    def penalty(vals, create_graph):
        vs, out = loss(vals)
        gs = ng.grad(out, vs, create_graph=create_graph)
        return vs, _total([ng.sum_(g * qi) for g, qi in zip(gs, q)])

    vs, out = loss(arrays)
    g1 = ng.grad(out, vs)
    g1_graph = ng.grad(loss(arrays)[1], loss(arrays)[0])  # fresh leaves: zeros, nothing depends on them
    assert all(np.all(g.v == 0) for g in g1_graph)
    vs, p = penalty(arrays, True)
    g2 = ng.grad(p, vs)
    # the kept graph gives the same first derivatives as the plain pass
    vs_c, out_c = loss(arrays)
    for a, b in zip(ng.grad(out_c, vs_c, create_graph=True), g1):
        np.testing.assert_allclose(a.v, b.v, rtol=1e-13, atol=1e-15)
    for i, a in enumerate(arrays):
        assert g1[i].shape == a.shape and g2[i].shape == a.shape
        for idx in _entries(a.shape, rng, n):
            want1 = _fd(lambda vals: loss(vals)[1].v, arrays, i, idx)
            assert g1[i].v[idx] == pytest.approx(want1, rel=1e-6, abs=1e-8), ("first", i, idx)
            want2 = _fd(lambda vals: penalty(vals, False)[1].v, arrays, i, idx)
            assert g2[i].v[idx] == pytest.approx(want2, rel=1e-5, abs=1e-7), ("second", i, idx)
    return g1, g2


def away(a, points=(0.0,), margin=0.05):
    """Move the values of ``a`` off the kinks at ``points`` by at least ``margin``."""
    a = np.array(a, np.float64)
    for p in points:
        near = np.abs(a - p) < margin
        a[near] = p + np.where(a[near] >= p, margin, -margin)
    return a


R = np.random.RandomState(1)
N = R.normal
POS = lambda *s: R.uniform(0.5, 2.0, s)  # noqa: E731

ELEMENTWISE = {
    "add_broadcast": (lambda a, b: a + b, [N(size=(3, 4)), N(size=(1, 4))]),
    "sub_rsub": (lambda a, b: (a - b) + (2.0 - a), [N(size=(3, 4)), N(size=(3, 1))]),
    "mul_broadcast": (lambda a, b: a * b, [N(size=(2, 3, 4)), N(size=(4,))]),
    "div_rdiv": (lambda a, b: a / b + 1.5 / b, [N(size=(3, 4)), POS(3, 4)]),
    "neg_square": (lambda a: -ng.square(a), [N(size=(3, 4))]),
    "ndarray_on_the_left": (lambda a: np.full((3, 4), 2.0) * a - np.ones((3, 4)) / (a * a + 1.0), [N(size=(3, 4))]),
    "exp_log": (lambda a, b: ng.exp(a * 0.5) + ng.log(b), [N(size=(3, 4)), POS(3, 4)]),
    "sqrt": (lambda a: ng.sqrt(a), [POS(3, 4)]),
    "reciprocal": (lambda a: ng.reciprocal(a), [POS(3, 4)]),
    "tanh": (lambda a: ng.tanh(a), [N(size=(3, 4))]),
    "sigmoid": (lambda a: ng.sigmoid(a), [N(size=(3, 4))]),
    "relu": (lambda a: ng.relu(a) * a, [away(N(size=(3, 4)))]),
    "leaky_relu": (lambda a: ng.leaky_relu(a, 0.2) * a, [away(N(size=(3, 4)))]),
    "clip": (lambda a: ng.clip(a, -0.5, 0.5) * a, [away(N(size=(4, 5)), (-0.5, 0.5))]),
}
SHAPES = {
    "sum_axes": (lambda a: ng.sum_(a, axis=(0, 2)) + ng.sum_(a * a, axis=-1, keepdims=True)[:, :, 0] * 0.1,
                 [N(size=(2, 3, 4))]),
    "sum_all": (lambda a: ng.sum_(a * a), [N(size=(2, 3))]),
    "mean_axes": (lambda a: ng.mean(a * a, axis=(0, 1, 2), keepdims=True) + ng.mean(a, axis=1)[:, None],
                  [N(size=(2, 3, 2, 4))]),
    "broadcast_to": (lambda a: ng.broadcast_to(a, (3, 2, 4)) * ng.broadcast_to(a, (3, 2, 4)), [N(size=(2, 1))]),
    "reshape_transpose": (lambda a: ng.transpose(ng.reshape(a * a, (3, 2, 4)), (2, 0, 1)), [N(size=(6, 4))]),
    "matmul": (lambda a, b: (a @ b) * (a @ b), [N(size=(3, 4)), N(size=(4, 2))]),
    "linear": (lambda x, w, b: ng.linear(ng.tanh(x), w, b), [N(size=(3, 4)), N(size=(2, 4)), N(size=(2,))]),
    "concat": (lambda a, b: ng.concat([a * a, b, a], axis=1), [N(size=(2, 3)), N(size=(2, 2))]),
    "getitem_repeated": (lambda a: a[np.array([0, 2, 0, 1]), np.array([1, 1, 1, 3])] * a[:, 1:3][0, 0],
                         [N(size=(3, 4))]),
    "getitem_slices": (lambda a: a[1:, ::2] * a[:-1, 1::2], [N(size=(3, 4))]),
}
LOSSES = {
    "log_softmax": (lambda a: ng.log_softmax(a), [N(size=(3, 5)) * 3]),
    "log_softmax_axis0": (lambda a: ng.log_softmax(a, axis=0), [N(size=(3, 5))]),
    "softmax": (lambda a: ng.softmax(a), [N(size=(3, 5)) * 3]),
    "cross_entropy": (lambda a: ng.cross_entropy(a, [0, 2, 2]), [N(size=(3, 4))]),
    "mse": (lambda a, b: ng.mse(a, b), [N(size=(3, 4)), N(size=(3, 4))]),
}


@pytest.mark.parametrize("case", sorted({**ELEMENTWISE, **SHAPES, **LOSSES}))
def test_op_derivatives(case):
    fn, arrays = {**ELEMENTWISE, **SHAPES, **LOSSES}[case]
    check_derivatives(fn, arrays, seed=len(case))


# -- convolutions, pooling and upsampling --------------------------------------------------------------------------
def naive_conv_nhwc(x, w, s, pads):
    """Direct loop: y[n, i, j, o] = sum_{a, b, c} xpad[n, i s + a, j s + b, c] w[a, b, c, o]."""
    pt, pb, pl, pr = pads
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    k = w.shape[0]
    oh, ow = (xp.shape[1] - k) // s + 1, (xp.shape[2] - k) // s + 1
    y = np.zeros((x.shape[0], oh, ow, w.shape[3]))
    for i in range(oh):
        for j in range(ow):
            y[:, i, j, :] = np.tensordot(xp[:, i * s:i * s + k, j * s:j * s + k, :], w, axes=([1, 2, 3], [0, 1, 2]))
    return y


def naive_conv_transpose_nchw(x, w, s, p):
    """PyTorch's conv_transpose2d by its definition: out[(i s + a) - p, (j s + b) - p] += x[i, j] w[:, :, a, b]."""
    n, c, h, wd = x.shape
    k = w.shape[2]
    full = np.zeros((n, w.shape[1], (h - 1) * s + k, (wd - 1) * s + k))
    for i in range(h):
        for j in range(wd):
            full[:, :, i * s:i * s + k, j * s:j * s + k] += np.einsum("nc,coab->noab", x[:, :, i, j], w)
    return full[:, :, p:full.shape[2] - p, p:full.shape[3] - p]


def test_same_padding_is_tensorflows():
    # ceil(size / stride) outputs; pad_total = max((out - 1) stride + k - size, 0), pad_total // 2 before
    assert ng.same_padding(7, 4, 2) == (4, 1, 2)  # MNIST's 7 -> 4: one row above, two below
    assert ng.same_padding(6, 4, 2) == (3, 1, 1)
    assert ng.same_padding(6, 4, 1) == (6, 1, 2)
    assert ng.same_padding(6, 3, 1) == (6, 1, 1)
    assert ng.same_padding(28, 4, 2) == (14, 1, 1)
    assert ng.same_padding(5, 1, 2) == (3, 0, 0)


# (layout, padding, stride, x shape, w shape); filters as the layout lays them out
CONVS = [
    ("NHWC", "SAME", 2, (2, 7, 7, 2), (4, 4, 2, 3)),
    ("NHWC", "SAME", 2, (2, 6, 6, 2), (4, 4, 2, 3)),
    ("NHWC", "SAME", 1, (2, 6, 5, 2), (4, 4, 2, 2)),
    ("NHWC", "SAME", 1, (1, 5, 5, 3), (3, 3, 3, 2)),
    ("NHWC", 1, 2, (2, 6, 6, 2), (3, 3, 2, 2)),
    ("NCHW", 0, 1, (2, 2, 8, 8), (3, 2, 5, 5)),
    ("NCHW", 1, 1, (2, 3, 6, 6), (2, 3, 3, 3)),
    ("NCHW", 1, 2, (2, 2, 7, 7), (3, 2, 3, 3)),
    ("NCHW", 2, 2, (2, 2, 7, 7), (2, 2, 5, 5)),
    ("NCHW", "SAME", 2, (2, 2, 7, 7), (3, 2, 4, 4)),
]


def _to_nhwc(x, w, layout):
    if layout == "NHWC":
        return x, w
    return x.transpose(0, 2, 3, 1), w.transpose(2, 3, 1, 0)


def _pads_of(layout, padding, x_shape, k, s):
    hw = x_shape[1:3] if layout == "NHWC" else x_shape[2:]
    if padding == "SAME":
        (_, pt, pb), (_, pl, pr) = (ng.same_padding(n, k, s) for n in hw)
        return pt, pb, pl, pr
    return (padding,) * 4


@pytest.mark.parametrize("layout,padding,stride,xs,ws", CONVS)
def test_conv2d_forward_adjoint_and_derivatives(layout, padding, stride, xs, ws):
    rng = np.random.RandomState(3)
    x, w = rng.normal(size=xs), rng.normal(size=ws)
    y = ng.conv2d(ng.V(x), ng.V(w), stride, padding, layout).v
    xn, wn = _to_nhwc(x, w, layout)
    k = wn.shape[0]
    want = naive_conv_nhwc(xn, wn, stride, _pads_of(layout, padding, xs, k, stride))
    np.testing.assert_allclose(y if layout == "NHWC" else y.transpose(0, 2, 3, 1), want, rtol=1e-12, atol=1e-12)
    # conv2d_transpose is the adjoint: <conv(x), t> = <x, conv_transpose(t)>
    t = rng.normal(size=y.shape)
    hw = xs[1:3] if layout == "NHWC" else xs[2:]
    xt = ng.conv2d_transpose(ng.V(t), ng.V(w), stride, padding, hw, layout).v
    assert xt.shape == x.shape
    assert np.sum(y * t) == pytest.approx(np.sum(x * xt), rel=1e-12)
    # derivatives of both ops with respect to input and filter, second order included
    check_derivatives(lambda a, b: ng.conv2d(a, b, stride, padding, layout), [x, w * 0.5], n=8)
    check_derivatives(lambda a, b: ng.conv2d_transpose(a, b, stride, padding, hw, layout), [t, w * 0.5], n=8)


@pytest.mark.parametrize("s,p,k,hw", [(2, 0, 3, 4), (1, 0, 4, 3), (2, 1, 4, 4), (1, 2, 5, 5)])
def test_conv2d_transpose_is_pytorchs_definition(s, p, k, hw):
    rng = np.random.RandomState(4)
    x, w = rng.normal(size=(2, 3, hw, hw)), rng.normal(size=(3, 2, k, k))  # w: [C_in, C_out, k, k] as PyTorch's
    got = ng.conv2d_transpose(ng.V(x), ng.V(w), s, p).v  # the output size defaults to PyTorch's
    want = naive_conv_transpose_nchw(x, w, s, p)
    assert got.shape == want.shape == (2, 2, (hw - 1) * s + k - 2 * p, (hw - 1) * s + k - 2 * p)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_conv_argument_checks():
    x, w = ng.V(np.zeros((1, 4, 4, 1))), ng.V(np.zeros((3, 3, 1, 1)))
    with pytest.raises(ValueError):
        ng.conv2d(x, w, 1, "VALID", "NHWC")
    with pytest.raises(ValueError):
        ng.conv2d(x, w, 1, 0, "CHWN")
    with pytest.raises(ValueError):
        ng.conv2d_transpose(ng.V(np.zeros((1, 2, 2, 1))), w, 2, "SAME", layout="NHWC")  # SAME needs out_size
    with pytest.raises(ValueError):
        ng.conv2d_transpose(ng.V(np.zeros((1, 2, 2, 1))), w, 2, "SAME", (6, 6), "NHWC")  # 6 -> 3, not 2


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_maxpool_and_upsample(layout):
    rng = np.random.RandomState(5)
    x = rng.normal(size=(2, 3, 4, 6))
    to = (lambda a: a) if layout == "NCHW" else (lambda a: a.transpose(0, 2, 3, 1))
    back = (lambda a: a) if layout == "NCHW" else (lambda a: a.transpose(0, 3, 1, 2))
    pooled = back(ng.maxpool2(ng.V(to(x)), layout).v)
    np.testing.assert_array_equal(pooled, x.reshape(2, 3, 2, 2, 3, 2).max(axis=(3, 5)))
    up = back(ng.upsample2(ng.V(to(x)), layout).v)
    np.testing.assert_array_equal(up, x.repeat(2, 2).repeat(2, 3))
    check_derivatives(lambda a: ng.maxpool2(a, layout), [to(x)])
    check_derivatives(lambda a: ng.upsample2(a, layout), [to(x)])
    # a tie: the gradient goes to the first maximum of the window (row-major), as PyTorch's
    tie = ng.V(to(np.ones((1, 1, 2, 2))))
    g, = ng.grad(ng.sum_(ng.maxpool2(tie, layout)), [tie])
    np.testing.assert_array_equal(back(g.v), [[[[1.0, 0.0], [0.0, 0.0]]]])


def test_grad_of_an_unused_input_is_zero_and_plain_grads_are_constants():
    a, b = ng.V(np.ones((2, 3))), ng.V(np.ones(4))
    ga, gb = ng.grad(ng.sum_(a * a), [a, b])
    np.testing.assert_array_equal(ga.v, 2 * np.ones((2, 3)))
    np.testing.assert_array_equal(gb.v, np.zeros(4))
    assert ga.parents == ()  # without create_graph a gradient is a plain value
    gc, = ng.grad(ng.sum_(a * a * a), [a], create_graph=True)
    gg, = ng.grad(ng.sum_(gc), [a])
    np.testing.assert_allclose(gg.v, 6 * np.ones((2, 3)))
    assert np.all(ng.const(a).v == a.v) and ng.const(a).parents == ()
    np.testing.assert_array_equal(ng.grad(ng.sum_(ng.const(a) * a), [a])[0].v, np.ones((2, 3)))


# -- networks as the method suites build them ---------------------------------------------------------------------
def _bn(h, gamma, beta, axes, eps):
    mu = ng.mean(h, axes, keepdims=True)
    d = h - mu
    return d / ng.sqrt(ng.mean(d * d, axes, keepdims=True) + eps) * gamma + beta


def test_pytorch_style_networks_against_finite_differences():
    """A generator (linear, upsampling, padded convolutions, batch norm, leaky ReLU, tanh, transposed convolution)
    feeding a critic (strided padded convolutions, dropout mask, max-pool, softmax head, cross-entropy, MSE)."""
    rng = np.random.RandomState(6)
    z, y = rng.normal(size=(3, 4)), np.array([0, 2, 1])
    mask = (rng.uniform(size=(3, 2)) > 0.25) / 0.75
    shapes = {"l": (2 * 4 * 4, 4), "lb": (2 * 4 * 4,), "c1": (3, 2, 3, 3), "g1": (1, 3, 1, 1), "b1": (1, 3, 1, 1),
              "t1": (3, 2, 4, 4), "d1": (2, 2, 3, 3), "d2": (4, 2, 3, 3), "head": (3, 4), "adv": (1, 4)}
    params = [rng.normal(0, 0.5, s) for s in shapes.values()]

    def net(*ps):
        p = dict(zip(shapes, ps))
        h = ng.reshape(ng.linear(ng.V(z), p["l"], p["lb"]), (3, 2, 4, 4))
        h = ng.conv2d(ng.upsample2(h), p["c1"], 1, 1)  # 8x8
        h = ng.leaky_relu(_bn(h, p["g1"], p["b1"], (0, 2, 3), 0.8), 0.2)
        img = ng.tanh(ng.conv2d_transpose(h, p["t1"], 2, 1))  # 8 -> 16
        h = ng.leaky_relu(ng.conv2d(img, p["d1"], 2, 1), 0.2) * mask[:, :, None, None]  # 8x8
        h = ng.maxpool2(ng.relu(ng.conv2d(h, p["d2"], 2, 1)))  # 8 -> 4 -> 2
        h = ng.mean(h, axis=(2, 3))
        probs = ng.softmax(ng.linear(h, p["head"]))
        return ng.cross_entropy(probs, y) + ng.mse(ng.linear(h, p["adv"]), np.ones((3, 1)))

    check_derivatives(net, params, n=4)


def test_tensorflow_style_networks_and_gradient_penalty_against_finite_differences():
    """An encoder (SAME strided convolutions, batch norm with a stopped-gradient variance, ReLU, clip), a decoder
    (SAME transposed convolutions, sigmoid) and a critic's gradient penalty (a second derivative)."""
    rng = np.random.RandomState(7)
    x = rng.uniform(size=(3, 7, 7, 1))
    shapes = {"e1": (4, 4, 1, 2), "e2": (4, 4, 2, 3), "lin": (2 * 2 * 3, 2), "t1": (4, 4, 2, 2), "t2": (4, 4, 1, 2),
              "gamma": (1, 1, 1, 2), "crit": (3, 3, 1, 2), "cw": (2 * 4 * 4, 1)}
    params = [rng.normal(0, 0.5, s) for s in shapes.values()]

    def net(*ps):
        p = dict(zip(shapes, ps))
        h = ng.conv2d(ng.V(x), p["e1"], 2, "SAME", "NHWC")  # 7 -> 4
        mean = ng.mean(h, axis=(0, 1, 2), keepdims=True)
        var = ng.mean(ng.square(h - ng.const(mean.v)), axis=(0, 1, 2), keepdims=True)
        h = ng.relu((h - mean) / ng.sqrt(var + 1e-5) * p["gamma"])
        h = ng.relu(ng.conv2d(h, p["e2"], 2, "SAME", "NHWC"))  # 4 -> 2
        code = ng.clip(ng.reshape(h, (3, -1)) @ p["lin"], -3.0, 3.0)
        h = ng.reshape(code, (3, 1, 1, 2))
        h = ng.relu(ng.conv2d_transpose(ng.broadcast_to(h, (3, 2, 2, 2)), p["t1"], 2, "SAME", (4, 4), "NHWC"))
        out = ng.sigmoid(ng.conv2d_transpose(h, p["t2"], 2, "SAME", (7, 7), "NHWC"))
        u = ng.V(x) + 0.5 * (out - ng.V(x))
        w = ng.reshape(ng.relu(ng.conv2d(u, p["crit"], 2, "SAME", "NHWC")), (3, -1)) @ p["cw"]
        g, = ng.grad(ng.sum_(w), [u], create_graph=True)
        gp = ng.mean(ng.square(ng.sqrt(ng.sum_(ng.square(g), axis=(1, 2, 3))) - 1.0))
        return ng.sum_(ng.square(ng.V(x) - out)) + ng.mean(w) + gp

    check_derivatives(net, params, n=4)
