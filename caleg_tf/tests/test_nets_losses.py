"""Layer shapes and parameter counts (the original's models.py), loss terms on fixed inputs (caleg.py)."""
import numpy as np
import pytest

from caleg import losses, nets
from caleg.tfcompat import tf
from configs import get_config


@pytest.mark.parametrize("dataset, counts", [
    ("mnist", {"encoder": 11280064, "generator": 13753601, "classifier": 650, "discriminator": 11280779}),
    ("cifar10", {"encoder": 17480768, "generator": 18280451, "classifier": 650, "discriminator": 17481483}),
])
def test_shapes_and_parameter_counts(dataset, counts):
    cfg = get_config(dataset)
    h, w, c = cfg["image_shape"]
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, h, w, c])
        z = nets.encoder(x, cfg, training=True)
        img, logits = nets.decoder(z, cfg, training=True)
        d_logits, d_w = nets.discriminator(img, cfg, training=True)
        assert z.shape.as_list() == [None, 64]
        assert img.shape.as_list() == [None, h, w, c] and logits.shape.as_list() == [None, 10]
        assert d_logits.shape.as_list() == [None, 10] and d_w.shape.as_list() == [None, 1]

        def n(prefix, exclude=None):
            return sum(int(np.prod(v.shape.as_list())) for v in tf.trainable_variables()
                       if v.name.startswith(prefix) and not (exclude and v.name.startswith(exclude)))

        assert n("encoder/") == counts["encoder"]
        assert n("generator/", exclude="generator/classifier/") == counts["generator"]
        assert n("generator/classifier/") == counts["classifier"]
        assert n("discriminator/") == counts["discriminator"]


def test_small_forward_values_and_batch_norm_updates():
    cfg = get_config("mnist", e_num_filters=32, g_num_filters=32)
    g = tf.Graph()
    with g.as_default():
        tf.set_random_seed(0)
        x = tf.placeholder(tf.float32, [None, 28, 28, 1])
        z = nets.encoder(x, cfg, training=True)
        img, _ = nets.decoder(z, cfg, training=True)
        z_inf = nets.encoder(x, cfg, training=False)
        mm = [v for v in tf.global_variables() if v.name == "encoder/h0_bn/moving_mean:0"][0]
        with tf.Session() as s:
            s.run(tf.global_variables_initializer())
            xb = np.random.RandomState(0).rand(6, 28, 28, 1).astype(np.float32)
            s.run(z_inf, {x: xb})
            assert np.all(s.run(mm) == 0)  # inference mode does not touch the moving averages
            zv, iv = s.run([z, img], {x: xb})
            assert zv.shape == (6, 64) and iv.shape == (6, 28, 28, 1)
            assert np.all((iv > 0) & (iv < 1))  # sigmoid output
            assert np.any(s.run(mm) != 0)  # a training-mode forward updates them in place


def test_reconstruction_ce_and_moment_matching_on_fixed_inputs():
    rng = np.random.RandomState(0)
    xa, xb = rng.rand(3, 2, 2, 1).astype(np.float32), rng.rand(3, 2, 2, 1).astype(np.float32)
    logits = rng.randn(3, 4).astype(np.float32)
    y = np.array([0, 3, 1], np.int32)
    qz, pz = rng.randn(5, 3).astype(np.float32), rng.randn(5, 3).astype(np.float32)
    with tf.Graph().as_default(), tf.Session() as s:
        rec, ce_sum, ce_mean, mm = s.run([losses.reconstruction(xa, xb), losses.cross_entropy(y, logits, "sum"),
                                          losses.cross_entropy(y, logits, "mean"), losses.moment_matching(qz, pz)])
    assert rec == pytest.approx(0.05 * np.mean(np.sum((xa - xb) ** 2, axis=(1, 2, 3))), rel=1e-5)
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    ce = -logp[np.arange(3), y]
    assert ce_sum == pytest.approx(ce.sum(), rel=1e-5) and ce_mean == pytest.approx(ce.mean(), rel=1e-5)
    want = np.mean((qz.mean(0) - pz.mean(0)) ** 2) + np.mean((np.cov(qz.T) - np.cov(pz.T)) ** 2)
    assert mm == pytest.approx(want, rel=1e-4)


def _mmd_numpy(q, p, zdim):
    def d2(a, b):
        return ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)

    n = len(q)
    off = 1 - np.eye(n)
    stat = 0.0
    for s in losses.MMD_SCALES:
        c = 2 * zdim * s
        stat += ((c / (c + d2(q, q)) + c / (c + d2(p, p))) * off).sum() / (n * n - n)
        stat -= 2 * (c / (c + d2(q, p))).sum() / (n * n)
    return stat


def test_mmd_matches_numpy():
    rng = np.random.RandomState(1)
    q, p = (rng.randn(8, 64) * 0.3 + 0.5).astype(np.float32), rng.randn(8, 64).astype(np.float32)
    with tf.Graph().as_default(), tf.Session() as s:
        got = s.run(losses.mmd_penalty(q, p, 64))
    assert got == pytest.approx(_mmd_numpy(q.astype(np.float64), p.astype(np.float64), 64), rel=1e-4, abs=1e-6)


def _pair(real, other, rate, resample=False):
    with tf.Graph().as_default(), tf.Session() as s:
        tf.set_random_seed(0)
        return s.run(losses.pair_real(tf.constant(real), tf.constant(other), rate, resample))


def test_gradient_penalty_pairing_shapes():
    b = 6
    real = (np.arange(b, dtype=np.float32) + 1)[:, None, None, None] * np.ones((b, 2, 2, 1), np.float32)
    rows = {float(r[0, 0, 0]) for r in real}
    same = _pair(real, np.zeros_like(real), 1.0)
    assert np.array_equal(same, real)  # r = 1: no permutation
    assert _pair(real, np.zeros((5, 2, 2, 1), np.float32), 1.0).shape == (5, 2, 2, 1)  # r = 1, B' != B
    half = _pair(real, np.zeros((3, 2, 2, 1), np.float32), 0.5)  # r < 1: permuted, truncated to B'
    assert half.shape == (3, 2, 2, 1) and len({float(r[0, 0, 0]) for r in half} & rows) == 3
    big = np.zeros((12, 2, 2, 1), np.float32)
    faithful = _pair(real, big, 2.0)  # r > 1: permutation of range(B') gathered, GPU semantics
    assert faithful.shape == (12, 2, 2, 1)
    assert sum(np.all(r == 0) for r in faithful) == 12 - b  # out-of-range indices give zero rows
    assert sorted(float(r[0, 0, 0]) for r in faithful if np.any(r)) == sorted(rows)
    fixed = _pair(real, big, 2.0, resample=True)  # gp_real_resample: B' real rows with replacement
    assert fixed.shape == (12, 2, 2, 1) and all(float(r[0, 0, 0]) in rows for r in fixed)


def test_plain_gather_out_of_range_fails_on_cpu():
    """Why the port emulates the GPU: the original's r > 1 indexing is an error on CPU."""
    with tf.Graph().as_default(), tf.Session() as s:
        with pytest.raises(tf.errors.InvalidArgumentError):
            s.run(tf.gather(tf.zeros([3, 2]), tf.constant([0, 4])))


def test_gradient_penalty_value_with_a_linear_critic():
    # critic(u) = c * sum(u): gradient c everywhere, norm c * sqrt(P), penalty (c sqrt(P) - 1)^2 for every sample
    c, shape = 0.3, (4, 3, 3, 2)
    with tf.Graph().as_default(), tf.Session() as s:
        gp = losses.gradient_penalty(lambda u: c * tf.reduce_sum(u, axis=[1, 2, 3]),
                                     tf.random.normal(shape), tf.random.normal(shape))
        assert s.run(gp) == pytest.approx((c * np.sqrt(18) - 1) ** 2, rel=1e-5)


def test_critic_use_d_config_builds_the_narrower_critic():
    # MNIST d_num_filters 512: convs 64/128/256/512 (k = 4) with BN, linear 2048 -> 64, heads 64 -> 10 and 64 -> 1:
    # 1088 + 128 + 131200 + 256 + 524544 + 512 + 2097664 + 1024 + 131136 + 650 + 65
    cfg = get_config("mnist", critic_use_d_config=True)
    with tf.Graph().as_default():
        nets.discriminator(tf.placeholder(tf.float32, [None, 28, 28, 1]), cfg, training=True)
        assert sum(int(np.prod(v.shape.as_list())) for v in tf.trainable_variables()) == 2888267
