import math

import numpy as np
import pytest

from shared_data import metrics

# Hand-worked case: 3 classes, 8 test images.
#   true 0 0 0 0 1 1 2 2
#   pred 0 0 0 1 1 2 2 2
# recall 3/4, 1/2, 1; precision 1, 1/2, 2/3; specificity 4/4, 5/6, 5/6.
Y_TRUE = [0, 0, 0, 0, 1, 1, 2, 2]
Y_PRED = [0, 0, 0, 1, 1, 2, 2, 2]


def test_hand_worked_values():
    m = metrics.compute(Y_TRUE, Y_PRED, train_counts=[10, 50, 100])
    assert m["accuracy"] == pytest.approx(6 / 8)
    assert m["acsa"] == pytest.approx((3 / 4 + 1 / 2 + 1) / 3)
    assert m["gm_gamo"] == pytest.approx((3 / 4 * 1 / 2 * 1) ** (1 / 3))
    assert m["gmacro_dgc"] == pytest.approx((math.sqrt(3 / 4) + math.sqrt(1 / 2 * 5 / 6) + math.sqrt(5 / 6)) / 3)
    assert m["gm_imblearn_macro"] == pytest.approx(math.sqrt(0.75 * (1 + 5 / 6 + 5 / 6) / 3))
    f1 = [2 * 1 * 0.75 / 1.75, 0.5, 2 * (2 / 3) / (5 / 3)]
    assert m["fmacro"] == pytest.approx(sum(f1) / 3)
    assert m["fmacro_dgc"] == pytest.approx(sum(f1) / 3)
    # smallest training class is label 0, largest label 2
    assert (m["rmi_class"], m["pma_class"]) == (0, 2)
    assert m["rmi"] == pytest.approx(0.75)
    assert m["pma"] == pytest.approx(2 / 3)
    assert m["per_class_recall"] == pytest.approx([0.75, 0.5, 1.0])
    assert m["per_class_precision"] == pytest.approx([1.0, 0.5, 2 / 3])
    assert m["per_class_specificity"] == pytest.approx([1.0, 5 / 6, 5 / 6])
    assert m["confusion_matrix"] == [[3, 1, 0], [0, 1, 1], [0, 0, 2]]


def test_gm_is_zero_and_dgc_fmacro_nan_when_a_class_is_never_predicted():
    m = metrics.compute([0, 0, 1, 1, 2, 2], [0, 0, 0, 0, 2, 2], train_counts=[5, 3, 1])
    assert m["gm_gamo"] == 0.0
    assert m["per_class_recall"] == [1.0, 0.0, 1.0]
    assert math.isnan(m["fmacro_dgc"])  # DGC's code divides 0 by 0 for class 1
    assert m["fmacro"] == pytest.approx((2 * 0.5 / 1.5 + 0 + 1) / 3)  # sklearn reports 0 for it
    assert m["gm_gamo"] <= m["acsa"]


def test_gmacro_can_exceed_acsa_and_differs_from_gm():
    m = metrics.compute(Y_TRUE, Y_PRED)
    assert m["gmacro_dgc"] > m["acsa"] > m["gm_gamo"]


def test_scores_give_auc_and_bad_input_is_refused():
    scores = np.eye(3)[Y_PRED] * 0.9 + 0.1 / 3
    m = metrics.compute(Y_TRUE, Y_PRED, scores=scores)
    assert 0.5 < m["auc_ovr_macro"] <= 1.0
    with pytest.raises(ValueError):
        metrics.compute([0, 1], [0])
