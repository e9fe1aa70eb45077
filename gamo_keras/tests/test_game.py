"""The game's pieces: IGU convexity, the fake batch, Adam as Keras 2 applied it, Keras 2 BatchNorm, and the
frozen-weights checks (a G step leaves M and D unchanged, an M step leaves G unchanged, a D step leaves G and
M unchanged, as the released compile-then-freeze order gives in Keras 2; Keras 3 reads a trainable flag when
a train function is first built, not at compile, so freezing here is structural)."""
import keras
import numpy as np
import pytest

from conftest import tiny_config, tiny_problem
from gamo import backend
from gamo import data as gd
from gamo.adam import AdamConfig, adam_update
from gamo.game import Game
from gamo.nets import Keras2BatchNorm


def make_game(prep, **kw):
    keras.utils.set_random_seed(0)
    cfg = tiny_config(**kw)
    g = Game(cfg, prep.num_classes, prep.minority, prep.minority_sizes)
    return g, backend.to_device(g.initial_state())


def np_state(state):
    return backend.to_numpy(state)


def leaves(tree):
    return [np.asarray(a) for a in keras.tree.flatten(tree)]


def same(a, b):
    return len(leaves(a)) == len(leaves(b)) and all(np.array_equal(x, y) for x, y in zip(leaves(a), leaves(b)))


@pytest.fixture(scope="module")
def setup():
    prep = tiny_problem()
    g, state = make_game(prep)
    x_cat = backend.to_device(prep.x_train[prep.minority_rows])
    return prep, g, state, x_cat


def test_igu_weights_are_convex_and_output_is_their_weighted_sum(setup):
    prep, g, state, x_cat = setup
    z = np.random.default_rng(1).standard_normal((5, 100)).astype(np.float32)
    for k in range(len(prep.minority)):
        x_k = prep.x_train[prep.class_rows[k]]
        out, alpha, _, _ = g.generate(state["p"], backend.to_device(z), k, g.x_k(x_cat, k), training=False)
        out, alpha = backend.to_numpy(out), backend.to_numpy(alpha)
        assert alpha.shape == (5, len(x_k))
        assert (alpha >= 0).all()
        np.testing.assert_allclose(alpha.sum(axis=1), 1.0, rtol=1e-5)
        np.testing.assert_allclose(out, alpha @ x_k, rtol=1e-5, atol=1e-6)
        # a convex combination stays inside the class's bounding box
        assert (out <= x_k.max(0) + 1e-5).all() and (out >= x_k.min(0) - 1e-5).all()


def test_fake_batch_uses_each_rows_own_class_igu(setup):
    prep, g, state, x_cat = setup
    rng = np.random.default_rng(2)
    z = rng.standard_normal((6, 100)).astype(np.float32)
    labels = np.array([0, 1, 1, 0, 1, 0], np.int32)
    fake, c = g.fake_batch(state["p"], backend.to_device(z), backend.to_device(labels), x_cat)
    fake, c = backend.to_numpy(fake), backend.to_numpy(c)
    for r, k in enumerate(labels):
        want, _, _, _ = g.generate(state["p"], backend.to_device(z[r:r + 1]), int(k), g.x_k(x_cat, int(k)),
                                   training=False)
        np.testing.assert_allclose(fake[r], backend.to_numpy(want)[0], rtol=1e-5, atol=1e-6)
        assert c[r].argmax() == prep.minority[k] and c[r].sum() == 1


def test_adam_matches_keras_formula():
    """Keras 2.2 / Keras 3 Adam: lr_t = lr sqrt(1 - b2^t) / (1 - b1^t); p -= lr_t m / (sqrt(v) + eps)."""
    cfg = AdamConfig(2e-4, 0.5, 0.999, 1e-7)
    p = [np.array([1.0, -2.0], np.float32)]
    m = [np.zeros(2, np.float32)]
    v = [np.zeros(2, np.float32)]
    t = np.float32(0)
    ref = keras.Variable(np.array([1.0, -2.0], np.float32))
    opt = keras.optimizers.Adam(learning_rate=2e-4, beta_1=0.5, beta_2=0.999, epsilon=1e-7)
    for step, grad in enumerate(([0.3, -1.0], [0.1, 0.5], [-2.0, 0.0])):
        g_ = [np.array(grad, np.float32)]
        p, m, v, t = adam_update(p, g_, m, v, t, cfg)
        opt.apply_gradients([(keras.ops.convert_to_tensor(g_[0]), ref)])
        np.testing.assert_allclose(backend.to_numpy(p[0]), backend.to_numpy(ref.value), rtol=1e-6, atol=1e-9)
    assert float(backend.to_numpy(t)) == 3.0
    # first step by hand: m = 0.5 g, v = 0.001 g^2, lr_t = 2e-4 sqrt(0.001) / 0.5 -> p moves by ~lr * sign(g)
    p1, _, _, _ = adam_update([np.float32(1.0)], [np.float32(0.3)], [np.float32(0)], [np.float32(0)], 0.0, cfg)
    lr_t = 2e-4 * np.sqrt(1 - 0.999) / (1 - 0.5)
    assert float(backend.to_numpy(p1[0])) == pytest.approx(1.0 - lr_t * 0.15 / (np.sqrt(0.001 * 0.09) + 1e-7),
                                                           rel=1e-6)


def test_keras2_batchnorm_updates_moving_variance_with_the_unbiased_estimate():
    bn = Keras2BatchNorm(momentum=0.9, epsilon=1e-3)
    x = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0], [6.0, 11.0]], np.float32)
    y = backend.to_numpy(bn(x, training=True))
    var = x.var(axis=0)
    np.testing.assert_allclose(y, (x - x.mean(0)) / np.sqrt(var + 1e-3), rtol=1e-5)
    unbiased = var * 4 / (4 - 1.001)
    # zero-debiased (TF1 assign_moving_average): after one update the moving value is the batch statistic
    np.testing.assert_allclose(backend.to_numpy(bn.moving_variance.value), unbiased, rtol=1e-6)
    np.testing.assert_allclose(backend.to_numpy(bn.moving_mean.value), x.mean(0), rtol=1e-6)
    x2 = x[::-1] * 2.0 + 1.0
    bn(x2, training=True)
    unbiased2 = x2.var(axis=0) * 4 / (4 - 1.001)
    want = (0.9 * 0.1 * unbiased + 0.1 * unbiased2) / (1 - 0.9 ** 2)
    np.testing.assert_allclose(backend.to_numpy(bn.moving_variance.value), want, rtol=1e-6)
    want = (0.9 * 0.1 * x.mean(0) + 0.1 * x2.mean(0)) / (1 - 0.9 ** 2)
    np.testing.assert_allclose(backend.to_numpy(bn.moving_mean.value), want, rtol=1e-6)


def _groups(state):
    p = state["p"]
    return {"M": p["M"], "D": p["D"], "C": p["C"], "Cn": p["Cn"], "Cb": p["Cb"], "I": p["I"]}


def test_g_step_leaves_m_and_d_unchanged(setup):
    prep, g, state, x_cat = setup
    z = backend.to_device(np.random.default_rng(3).standard_normal((4, 100)).astype(np.float32))
    before = np_state(state)
    for against in ("M", "D"):
        new, _ = g.update_g(state, 1, z, g.x_k(x_cat, 1), against)
        after = np_state(new)
        assert same(before["p"]["M"], after["p"]["M"]), f"G->{against} changed M"
        assert same(before["p"]["D"], after["p"]["D"]), f"G->{against} changed D"
        assert not same(before["p"]["C"], after["p"]["C"]), "G step did not train the cTMU"
        assert not same(before["p"]["I"][1], after["p"]["I"][1]), "G step did not train its IGU"
        assert same(before["p"]["I"][0], after["p"]["I"][0]), "G step of class 1 changed IGU 0"
        assert not same(before["p"]["Cn"], after["p"]["Cn"]), "BN statistics were not kept (training mode)"
        site = f"G{against}1"
        assert not same(before["p"]["Cb"][site], after["p"]["Cb"][site]), "the call site's averages did not move"
        assert all(same(before["p"]["Cb"][s], after["p"]["Cb"][s]) for s in before["p"]["Cb"] if s != site)
        # its own moment set only, the shared counter once
        assert float(after["o"]["t"]["shared"]) == float(before["o"]["t"]["shared"]) + 1
        own = f"G{against}1/C"
        assert not same(before["o"]["m"][own], after["o"]["m"][own])
        other = "GD1/C" if against == "M" else "GM1/C"
        assert same(before["o"]["m"][other], after["o"]["m"][other])


def test_m_step_leaves_g_and_d_unchanged(setup):
    prep, g, state, x_cat = setup
    xb = backend.to_device(prep.x_train[:4])
    yb = backend.to_device(gd.one_hot(prep.y_train[:4], prep.num_classes))
    before = np_state(state)
    after = np_state(g.update_m(state, xb, yb)[0])
    for k in ("D", "C", "Cn", "Cb", "I"):
        assert same(before["p"][k], after["p"][k]), f"M step changed {k}"
    assert not same(before["p"]["M"], after["p"]["M"])


def test_d_step_leaves_g_and_m_unchanged(setup):
    prep, g, state, x_cat = setup
    xb = backend.to_device(prep.x_train[:4])
    yb = backend.to_device(gd.one_hot(prep.y_train[:4], prep.num_classes))
    before = np_state(state)
    after = np_state(g.update_d(state, xb, yb, backend.to_device(np.full((4, 1), 0.95, np.float32)))[0])
    for k in ("M", "C", "Cn", "Cb", "I"):
        assert same(before["p"][k], after["p"][k]), f"D step changed {k}"
    assert not same(before["p"]["D"], after["p"]["D"])


def test_one_iteration_makes_2_plus_2_plus_2x_minority_updates(setup):
    prep, g, state, x_cat = setup
    n_min = len(prep.minority)
    r = gd.random_chunk(0, 0, 1, 1, 4, 100, n_min, g.gen_points, prep.to_balance, n_batches=1)
    r = {k: backend.to_device(v[0][:4] if k != "z_gen" else v[0]) for k, v in r.arrays().items() if k != "row0"}
    xb = backend.to_device(prep.x_train[:4])
    yb = backend.to_device(gd.one_hot(prep.y_train[:4], prep.num_classes))
    new, losses = g.iteration(state, xb, yb, x_cat, r)
    new = np_state(new)
    assert backend.to_numpy(losses).shape == (4 + 2 * n_min,) == (len(g.loss_names),)
    assert float(new["o"]["t"]["shared"]) == 4 + 2 * n_min  # 22 for ten classes
    # the cTMU has one moment set per compiled composite: 2 per minority class
    assert sorted(k for k in new["o"]["m"] if k.endswith("/C")) == sorted(
        [f"GM{k}/C" for k in range(n_min)] + [f"GD{k}/C" for k in range(n_min)])


def test_separate_optimizers_have_one_counter_per_player():
    prep = tiny_problem()
    g, state = make_game(prep, separate_optimizers=True)
    assert sorted(np_state(state)["o"]["t"]) == ["D", "G", "M"]


def test_g_against_m_target_is_one_minus_one_hot(setup):
    """The MSE of G->M_k is mean((M(G(z)) - (1 - one_hot(k)))^2): check the value through the loss."""
    prep, g, state, x_cat = setup
    z = backend.to_device(np.random.default_rng(4).standard_normal((4, 100)).astype(np.float32))
    _, loss = g.update_g(state, 0, z, g.x_k(x_cat, 0), "M")
    x, _, c, _ = g.generate(state["p"], z, 0, g.x_k(x_cat, 0), training=True, site="GM0")
    prob = backend.to_numpy(g.m_prob(state["p"]["M"], x))
    want = np.mean((prob - (1.0 - backend.to_numpy(c))) ** 2)
    assert float(backend.to_numpy(loss)) == pytest.approx(want, rel=1e-5)


def test_masked_short_batch_updates_like_the_short_batch(setup):
    """A pass's last batch (8 of 32 rows in the original) runs padded to the full size with a mask."""
    prep, g, state, x_cat = setup
    x = prep.x_train[:3]
    y = gd.one_hot(prep.y_train[:3], prep.num_classes)
    pad = lambda a: np.concatenate([a, np.repeat(a[-1:], 2, axis=0)])  # noqa: E731
    mask = backend.to_device(np.array([1, 1, 1, 0, 0], np.float32))
    short = np_state(g.update_m(state, backend.to_device(x), backend.to_device(y))[0])
    padded = np_state(g.update_m(state, backend.to_device(pad(x)), backend.to_device(pad(y)), mask)[0])
    for a, b in zip(leaves(short), leaves(padded)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    t = np.full((3, 1), 0.97, np.float32)
    short = np_state(g.update_d(state, backend.to_device(x), backend.to_device(y), backend.to_device(t))[0])
    padded = np_state(g.update_d(state, backend.to_device(pad(x)), backend.to_device(pad(y)),
                                 backend.to_device(pad(t)), mask)[0])
    for a, b in zip(leaves(short), leaves(padded)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
