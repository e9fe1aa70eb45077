"""F's own update in the conv variant (``conv_mlp`` of ``fashion_mnist_gamo_main.py`` L40-45: F through frozen
M, MSE on M's softmax against the real one-hot labels), against a plain-NumPy forward pass in float64.

The reference step covers the pixel-space game only; this is the one loss that trains F in a faithful Fashion
run. Checked: the loss the update returns, the direction of its first Adam step (about the learning rate times
the sign of the gradient, the gradient here by central differences of the NumPy loss), and that M is frozen.
"""
import keras
import numpy as np

from conftest import tiny_config, tiny_problem
from gamo import backend
from gamo import data as gd
from gamo.game import Game

LEAKY = 0.1  # fashion_mnist_net.py: LeakyReLU(alpha=0.1)
SEED = 0


def conv_same(x, k, b):
    """Keras Conv2D, 'same' padding, stride 1 (cross-correlation), NHWC."""
    kh, kw = k.shape[:2]
    xp = np.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    h, w = x.shape[1:3]
    out = np.zeros(x.shape[:3] + (k.shape[3],))
    for a in range(kh):
        for c in range(kw):
            out += np.einsum("nhwi,io->nhwo", xp[:, a:a + h, c:c + w, :], k[a, c])
    return out + b


def pool2(x):
    n, h, w, c = x.shape
    return x.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


def leaky(a):
    return np.where(a > 0, a, LEAKY * a)


def features(P, images):
    """[Conv 5x5 same, LeakyReLU, AvgPool 2x2] x 2 -> Flatten (NHWC order) -> Dense, tanh."""
    h = images
    for i in (0, 2):
        h = pool2(leaky(conv_same(h, P[i], P[i + 1])))
    return np.tanh(h.reshape(len(h), -1) @ P[4] + P[5])


def m_prob(P, x):
    h = leaky(x @ P[0] + P[1])
    h = leaky(h @ P[2] + P[3])
    z = h @ P[4] + P[5]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def f_loss(PF, PM, images, y):
    return float(((m_prob(PM, features(PF, images)) - y) ** 2).mean(axis=1).mean())


def test_f_update_is_mse_of_frozen_m_against_the_real_labels():
    keras.utils.set_random_seed(SEED)  # the initial weights, whatever ran before in this process
    prep = tiny_problem(counts=(13, 6, 3), shape=(8, 8, 1), flatten=False)
    cfg = tiny_config(variant="conv", shape=(8, 8, 1))
    g = Game(cfg, prep.num_classes, prep.minority, prep.minority_sizes)
    state = backend.to_numpy(g.initial_state())
    images = prep.x_train[:6].astype(np.float32)
    y = gd.one_hot(prep.y_train[:6], prep.num_classes)
    assert len(set(prep.y_train[:6].tolist())) > 1  # more than one class in the batch
    PF = [np.asarray(a, np.float64) for a in state["p"]["F"]]
    PM = [np.asarray(a, np.float64) for a in state["p"]["M"]]
    assert [a.shape for a in PF] == [(5, 5, 1, 4), (4,), (5, 5, 4, 4), (4,), (16, 16), (16,)]

    new, loss = g.update_f(backend.to_device(state), *backend.to_device([images, y]))
    new = backend.to_numpy(new)
    want = f_loss(PF, PM, images.astype(np.float64), y.astype(np.float64))
    assert abs(float(backend.to_numpy(loss)) - want) <= 1e-5 * want

    # M is frozen; F moves, its first Adam step about lr * sign(gradient) on every weight with a clear gradient
    for a, b in zip(state["p"]["M"], new["p"]["M"]):
        np.testing.assert_array_equal(a, b)
    lr = 2e-4  # Adam(0.0002, 0.5)
    for i in (4, 5, 1):  # the features' kernel and bias, the first conv's bias
        flat = PF[i].reshape(-1)
        step = (np.asarray(new["p"]["F"][i], np.float64) - np.asarray(state["p"]["F"][i], np.float64)).reshape(-1)
        checked = 0
        for j in range(flat.size):  # every entry: how many have a clear gradient depends on the initial weights
            old = flat[j]
            flat[j] = old + 1e-5
            up = f_loss(PF, PM, images, y)
            flat[j] = old - 1e-5
            down = f_loss(PF, PM, images, y)
            flat[j] = old
            grad = (up - down) / 2e-5
            if abs(grad) < 1e-4:  # Adam's epsilon shortens the step of a smaller gradient
                continue
            assert abs(step[j] + lr * np.sign(grad)) < 0.1 * lr, (i, j, grad, step[j])
            checked += 1
        assert checked >= 3, i
