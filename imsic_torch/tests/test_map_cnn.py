"""The category map on a constructed case; the CNN stage's data order."""
import numpy as np
import torch

from imsic import data as D
from imsic.category_map import hungarian
from imsic.pipeline import Run
from shared_data import config


def test_hungarian_beats_greedy_on_a_constructed_case():
    # Greedy per class would give code 0 to both classes 0 and 1; the matching maximises the total.
    p = np.array([[0.9, 0.8, 0.0],
                  [0.85, 0.1, 0.05],
                  [0.0, 0.1, 0.7]])
    assert hungarian(p) == [1, 0, 2]  # class 0 <- code 1, class 1 <- code 0, class 2 <- code 2
    perm = np.random.RandomState(0).permutation(10)
    eye = np.eye(10)[perm] * 0.6 + 0.04  # code k looks like class perm[k]
    assert hungarian(eye) == np.argsort(perm).tolist()


def test_fixed_shuffle_is_the_originals_two_reseeded_shuffles():
    x = np.arange(300).reshape(150, 2).astype(float)
    y = np.arange(150)
    xs, ys = x.copy(), y.copy()
    np.random.seed(32)
    np.random.shuffle(xs)
    np.random.seed(32)
    np.random.shuffle(ys)
    perm = D.fixed_shuffle(150)
    np.testing.assert_array_equal(x[perm], xs)
    np.testing.assert_array_equal(y[perm], ys)


class _Split:
    def __init__(self, y):
        self.y_train = y
        self.x_train = (np.arange(len(y)) % 256).astype(np.uint8)[:, None, None, None] * np.ones((1, 28, 28, 1),
                                                                                                 np.uint8)
        self.train_counts = np.bincount(y, minlength=10).tolist()


def test_cnn_training_set_order():
    y = np.repeat(np.arange(10), [8, 7, 6, 5, 4, 3, 3, 2, 2, 1])[::-1].copy()  # split order: class 9 first
    cfg = config.load("configs", "mnist", "smoke")
    run = Run.__new__(Run)
    run.cfg, run.split = cfg, _Split(y)
    synth = {"x": np.full((20, 1, 32, 32), 0.5, np.float32), "y": np.repeat(np.arange(10), 2)}
    x, yy = run.training_set(synth)
    # before the shuffle: class 0's real images (split order), its 2 synthetic images, class 1's, ...
    labels, is_synth = [], []
    for c in range(10):
        n = int((y == c).sum())
        labels += [c] * (n + 2)
        is_synth += [False] * n + [True] * 2
    perm = D.fixed_shuffle(len(labels))
    np.testing.assert_array_equal(yy.numpy(), np.array(labels)[perm])
    synth_rows = (x[:, 0] == 0.5).all(dim=(1, 2)).numpy()
    np.testing.assert_array_equal(synth_rows, np.array(is_synth)[perm])
    # the real rows keep the split's within-class order: image k has pixel value k (after the transform)
    first_real_of_class0 = x[np.flatnonzero(np.array(labels)[perm] == 0)[np.argmin(perm[np.array(labels)[perm]
                                                                                           == 0])]]
    assert float(first_real_of_class0[0, 0, 0]) == float(D.to_model_input(run.split.x_train[
        np.flatnonzero(y == 0)[:1]])[0, 0, 0, 0])


def test_to_model_input_range_and_resize():
    x = np.zeros((2, 28, 28, 1), np.uint8)
    x[1] = 255
    t = D.to_model_input(x)
    assert t.shape == (2, 1, 32, 32) and t.dtype == torch.float32
    assert float(t[0].max()) == -1.0 and float(t[1].min()) == 1.0
