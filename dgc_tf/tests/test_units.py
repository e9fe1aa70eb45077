"""Unit tests with exact values: the losses, the oversampling counts, the schedules, the Bayes-rule scorer."""
import math
from fractions import Fraction

import numpy as np
import pytest

from dgc import losses, model, oversample, schedules
from dgc.tfcompat import tf

MNIST_COUNTS = [4000, 2000, 1000, 750, 500, 350, 200, 100, 60, 40]


def run(*tensors):
    with tf.Session(graph=tf.get_default_graph()) as sess:
        return sess.run(list(tensors))


@pytest.fixture(autouse=True)
def fresh_graph():
    tf.reset_default_graph()
    yield


def test_imq_mmd_three_points_by_hand():
    q = [(0.0, 0.0), (1.0, 0.0), (0.0, 2.0)]
    p = [(1.0, 1.0), (-1.0, 0.0), (0.0, -1.0)]
    zdim, n = 2, 3
    sq = lambda a, b: (a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2  # noqa: E731
    expected = 0.0
    for scale in (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0):
        c = 2 * zdim * scale
        k = lambda a, b: c / (c + sq(a, b))  # noqa: E731
        same = sum(k(q[i], q[j]) + k(p[i], p[j]) for i in range(n) for j in range(n) if i != j)
        cross = sum(k(q[i], p[j]) for i in range(n) for j in range(n))
        expected += same / (n * n - n) - 2.0 * cross / (n * n)
    # e.g. scale 1 (C = 4): d^2(q0, q1) = 1 -> k = 4/5; d^2(q1, q2) = 5 -> k = 4/9
    (got,) = run(losses.mmd_imq(tf.constant(q), tf.constant(p), zdim))
    assert got == pytest.approx(expected, rel=1e-6)
    # batched leading axes give one MMD per group
    (both,) = run(losses.mmd_imq(tf.constant([q, p]), tf.constant([p, q]), zdim))
    assert both == pytest.approx([expected, expected], rel=1e-6)


def test_reconstruction_and_cross_entropy():
    x = np.zeros((2, 1, 2, 1), np.float32)
    x_hat = np.array([[[[1.0], [1.0]]], [[[2.0], [0.0]]]], np.float32)  # per image: 2 and 4
    logits = np.log(np.array([[0.5, 0.5], [0.25, 0.75]], np.float32))
    rec, ce_sum, ce_mean = run(losses.reconstruction_l2sq(tf.constant(x), tf.constant(x_hat)),
                               losses.cross_entropy(tf.constant([0, 1]), tf.constant(logits), "sum"),
                               losses.cross_entropy(tf.constant([0, 1]), tf.constant(logits), "mean"))
    assert rec == pytest.approx(0.5 * (2 + 4) / 2)
    assert ce_sum == pytest.approx(-math.log(0.5) - math.log(0.75), rel=1e-6)
    assert ce_mean == pytest.approx(ce_sum / 2, rel=1e-6)


def test_moment_matching_by_hand():
    q = np.array([[0.0, 0.0], [2.0, 0.0], [1.0, 3.0]], np.float32)  # mean (1, 1)
    p = np.array([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]], np.float32)  # mean 0, covariance 0
    # cov(q) with n - 1 = 2: centred rows (-1,-1), (1,-1), (0,2) -> [[2, 0], [0, 6]] / 2 = [[1, 0], [0, 3]]
    expected = (1 + 1) / 2 + (1 + 0 + 0 + 9) / 4
    (got,) = run(losses.moment_matching(tf.constant(q), tf.constant(p)))
    assert got == pytest.approx(expected, rel=1e-6)


def test_copy_counts_for_mnist_counts():
    got = oversample.copies_per_sample(MNIST_COUNTS, 0.6)
    r, n_max = Fraction(3, 5), 4000
    expected = [1 + r * (n_max - n) / n for n in MNIST_COUNTS]
    assert [float(e) for e in expected[:5]] == [1.0, 1.6, 2.8, 3.6, 5.2]
    assert [float(e) for e in expected[6:]] == [12.4, 24.4, 40.4, 60.4]
    assert expected[5] == Fraction(254, 35)  # 7.257...
    np.testing.assert_allclose(got, [float(e) for e in expected], rtol=0, atol=1e-12)
    paper = oversample.copies_per_sample(MNIST_COUNTS, 0.6, rule="paper")
    np.testing.assert_allclose(paper, [1.0, 1.2, 2.4, 3.2, 4.8, 2.4e3 / 350, 12.0, 24.0, 40.0, 60.0])


def test_augment_indices_repeat_then_truncate():
    copies = oversample.copies_per_sample(MNIST_COUNTS, 0.6)
    # batch rows: 0 -> class 1, 1 -> class 0, 2 -> class 1, 3 -> class 9
    rows = oversample.augment_indices(np.array([1, 0, 1, 9]), copies)
    # class 0: once; class 1: ceil(1.6) = 2 each, cut to floor(2 * 1.6) = 3; class 9: 61 copies cut to 60
    assert rows.tolist() == [1, 0, 0, 2] + [3] * 60
    # floor(n_c * copies_c) per class for one batch of 100
    y = np.repeat(np.arange(10), [44, 22, 11, 8, 6, 4, 2, 1, 1, 1])
    assert len(oversample.augment_indices(y, copies)) == 44 + 35 + 30 + 28 + 31 + 29 + 24 + 24 + 40 + 60
    # in expectation (9000 + 0.6 * (10 * 4000 - 9000)) / 90 = 306.7 codes per batch of 100
    assert float(np.dot(MNIST_COUNTS, copies)) / 90 == pytest.approx(27600 / 90)


def test_lr_schedules_faithful_and_cumulative():
    manual = [schedules.lr_factor("manual", e, 50) for e in range(50)]
    assert manual[30] == 0.5 and manual.count(1.0) == 49  # halved during epoch index 30 only
    cum = [schedules.lr_factor("manual", e, 120, cumulative=True) for e in (29, 30, 49, 50, 99, 100)]
    assert cum == pytest.approx([1.0, 0.5, 0.5, 0.1, 0.1, 0.01])
    smooth = {schedules.lr_factor("manual_smooth", e, 30) for e in range(30)}
    assert smooth == {100.0 ** (-1 / 30)}
    assert schedules.lr_factor("manual_smooth", 29, 30, cumulative=True) == pytest.approx(0.01)


def test_eval_schedules():
    assert schedules.eval_epochs(1, 50) == [4, 9, 14, 19, 24, 29, 34, 39, 44, 49]
    assert schedules.eval_epochs(2, 30) == list(range(1, 22)) + [24, 27]
    assert schedules.eval_epochs("last", 3) == [2]


def test_bayes_rule_scorer_toy_case():
    # N = 2 images, C = 2 classes, S = 2 samples, D = 1 pixel; one test batch (group) of both images
    x = np.array([[0.0], [1.0]], np.float32)
    x_hat = np.array([[[[0.0], [1.0]], [[1.0], [1.0]]],  # class 0, sample 0/1, image 0/1
                      [[[2.0], [1.0]], [[0.0], [0.0]]]], np.float32)  # class 1
    log_py = np.log(np.array([[[0.9, 0.2], [0.8, 0.4]], [[0.1, 0.6], [0.3, 0.5]]], np.float32))
    mmd = np.array([[0.5, 0.25]], np.float32)  # [groups, classes]

    def expected(sign):
        out = np.zeros((2, 2))
        for c in range(2):
            for i in range(2):
                v = [-0.5 * (x[i, 0] - x_hat[c, s, i, 0]) ** 2 + log_py[c, s, i] + sign * 2.0 * mmd[0, c]
                     for s in range(2)]
                out[i, c] = math.log(sum(math.exp(t) for t in v) / 2)
        return out

    for sign in (1.0, -1.0, 0.0):
        (got,) = run(model.generative_scores(tf.constant(x), tf.constant(x_hat), tf.constant(log_py),
                                             tf.constant(mmd), 2.0, sign, 2))
        np.testing.assert_allclose(got, expected(sign), rtol=1e-5)
    (disc,) = run(model.discriminative_scores(tf.constant(log_py)))
    np.testing.assert_allclose(disc, np.log((np.exp(log_py[:, 0]) + np.exp(log_py[:, 1])) / 2).T, rtol=1e-5)
    # without the MMD term: image 0 -> class 0 (its decodings 0, 1 beat 2, 0); image 1 -> class 1 (p(y|z) wins)
    (gen,) = run(model.generative_scores(tf.constant(x), tf.constant(x_hat), tf.constant(log_py),
                                         tf.constant(mmd), 2.0, 0.0, 2))
    assert gen.argmax(1).tolist() == [0, 1]
