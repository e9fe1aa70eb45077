"""GAMO's data handling, with exact values worked out by hand from the released ``*_suppli.py`` helpers."""
import numpy as np
import pytest

from gamo import data as gd

COUNTS = [4000, 2000, 1000, 750, 500, 350, 200, 100, 60, 40]


def test_relabel_by_ascending_count():
    order = gd.relabel_order(COUNTS)
    assert order.tolist() == [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]  # new = 9 - original for this profile
    assert gd.to_new_labels(np.array([0, 9, 4]), order).tolist() == [9, 0, 5]
    assert gd.to_original_labels(np.array([9, 0, 5]), order).tolist() == [0, 9, 4]


def test_relabel_is_stable_for_ties():
    # mergesort: equal counts keep their original order
    assert gd.relabel_order([5, 3, 5, 3, 1]).tolist() == [4, 1, 3, 0, 2]


def test_minority_classes_and_to_balance():
    counts_new = np.asarray(COUNTS)[gd.relabel_order(COUNTS)]
    minority, to_balance = gd.minority_classes(counts_new)
    assert minority == list(range(9))
    assert to_balance.tolist() == [3960, 3940, 3900, 3800, 3650, 3500, 3250, 3000, 2000]
    assert to_balance.sum() == 31000


def test_fake_label_probabilities_match_the_hand_computed_table():
    p = gd.fake_label_probabilities([3960, 3940, 3900, 3800, 3650, 3500, 3250, 3000, 2000])
    expected = [0.1277, 0.1271, 0.1258, 0.1226, 0.1177, 0.1129, 0.1048, 0.0968, 0.0645]
    np.testing.assert_allclose(p, expected, atol=5e-5)
    assert p.sum() == pytest.approx(1.0)


def test_fake_label_draw_is_proportional_to_nmax_minus_ni():
    to_balance = np.array([3960, 3940, 3900, 3800, 3650, 3500, 3250, 3000, 2000])
    n = 31000
    u = (np.arange(n) + 0.5) / n  # an exact uniform grid: each label gets exactly its share
    counts = np.bincount(gd.draw_fake_labels(u, to_balance), minlength=9)
    assert counts.tolist() == to_balance.tolist()
    # the majority class (not in the minority list) is never drawn, even at u -> 1
    assert gd.draw_fake_labels(np.array([0.0, 1.0 - 1e-12, 1.0]), to_balance).tolist() == [0, 8, 8]


def test_batch_layout_of_the_original():
    assert gd.batch_layout(9000, 32) == (282, 8)
    assert gd.batch_layout(64, 32) == (2, 32)


def test_prepare_relabels_shuffles_once_and_lists_class_rows():
    rng = np.random.default_rng(0)
    counts = [6, 3, 2]
    y = np.concatenate([np.full(c, i) for i, c in enumerate(counts)])
    x = np.arange(len(y) * 4, dtype=np.uint8).reshape(len(y), 2, 2, 1)
    prep = gd.prepare(x, y, x[:3], y[:3], counts, flatten=True, transpose=False, shuffle_rng=rng)
    assert prep.order.tolist() == [2, 1, 0]
    assert prep.counts.tolist() == [2, 3, 6]
    assert prep.minority == [0, 1]
    assert np.bincount(prep.y_train).tolist() == [2, 3, 6]
    # rows follow the shuffle; each row still carries its own image
    np.testing.assert_array_equal(prep.x_train, gd.scale_images(x[prep.shuffle]).reshape(len(y), -1))
    for k, rows in zip(prep.minority, prep.class_rows):
        assert (prep.y_train[rows] == k).all() and len(rows) == prep.counts[k]
    assert prep.x_train.min() >= -1.0 and prep.x_train.max() <= 1.0


def test_fashion_transpose_swaps_rows_and_columns():
    x = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3, 1)
    t = gd.fashion_transpose(x)
    assert t[0, 0, 1, 0] == x[0, 1, 0, 0] and t[1, 2, 0, 0] == x[1, 0, 2, 0]


def test_no_minority_class_is_a_clear_error():
    x = np.zeros((4, 2, 2, 1), np.uint8)
    y = np.array([0, 0, 1, 1])
    with pytest.raises(gd.GamoDataError, match="no minority class"):
        gd.prepare(x, y, x, y, [2, 2], flatten=True, transpose=False, shuffle_rng=np.random.default_rng(0))


def test_random_numbers_do_not_depend_on_chunking():
    kw = dict(batch_size=4, latent_dim=3, n_minority=2, gen_points=2, to_balance=[3, 1], n_batches=5)
    whole = gd.random_chunk(7, 10, 6, 8, **kw)
    part = gd.random_chunk(7, 13, 3, 8, **kw)
    for key, a in whole.arrays().items():
        np.testing.assert_array_equal(a[3:6], part.arrays()[key][:3])
    assert whole.row0[:6].tolist() == [0, 4, 8, 12, 16, 0]  # iterations 10..15 of 5 batches
    assert (whole.u_real[:6] >= 0).all() and (whole.u_real[:6] < 0.1).all()


def test_short_last_batch_is_masked():
    r = gd.random_chunk(0, 3, 3, 4, batch_size=4, latent_dim=2, n_minority=1, gen_points=1, to_balance=[1],
                        n_batches=5, n_rows=18)  # 18 rows: batches of 4, 4, 4, 4, 2
    assert r.row0.tolist() == [12, 16, 0, 0]
    assert r.mask.tolist() == [[1, 1, 1, 1], [1, 1, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0]]
