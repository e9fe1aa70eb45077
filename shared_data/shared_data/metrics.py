"""Every metric the papers report, computed once, with each paper's variant under its own name.

GAMO's GM, DGC's Gmacro and imbalanced-learn's 'macro' G-mean are three different numbers and never share
a name:

========================  ===========================================================================
``acsa``                  mean per-class recall (sklearn ``balanced_accuracy_score``)
``gm_gamo``               (prod_c recall_c)^(1/C), GAMO's GM (imblearn ``geometric_mean_score``, multiclass)
``gmacro_dgc``            mean_c sqrt(recall_c * specificity_c), DGC's G_macro (imblearn, ``average=None``)
``gm_imblearn_macro``     sqrt(mean recall * mean specificity) (imblearn ``average='macro'``)
``fmacro``                mean per-class F1, 0 for an undefined class (sklearn ``f1_score(average='macro')``)
``fmacro_dgc``            the same, NaN when a class is never predicted or never predicted correctly (DGC)
``rmi``                   recall of the smallest training class (DGC)
``pma``                   precision of the largest training class (DGC; NaN if never predicted)
========================  ===========================================================================
"""
from __future__ import annotations

import warnings

import numpy as np

SCALAR_METRICS = ("accuracy", "acsa", "gm_gamo", "gmacro_dgc", "gm_imblearn_macro", "fmacro", "fmacro_dgc",
                  "rmi", "pma")


def _extreme_classes(train_counts, num_classes):
    """Smallest = the last label with the minimum count; largest = the first with the maximum count."""
    if train_counts is None:
        return num_classes - 1, 0
    counts = np.asarray(train_counts)
    smallest = int(np.flatnonzero(counts == counts.min())[-1])
    largest = int(np.flatnonzero(counts == counts.max())[0])
    return smallest, largest


def compute(y_true, y_pred, scores=None, train_counts=None, num_classes: int | None = None,
            smallest: int | None = None, largest: int | None = None) -> dict:
    """All metrics from labels (and optional per-class scores of shape (N, C)).

    ``train_counts`` (per label) decides the smallest and largest class for RMI and PMA; pass ``smallest`` /
    ``largest`` explicitly where counts tie (``step`` profiles).
    """
    # imported here, not with the module: reading and validating records (shared_data.records imports this
    # module for SCALAR_METRICS) then costs no scikit-learn import, seconds on a loaded machine
    from imblearn.metrics import geometric_mean_score, specificity_score
    from sklearn.metrics import (accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score,
                                 precision_score, recall_score, roc_auc_score)

    y_true = np.asarray(y_true).astype(np.int64).ravel()
    y_pred = np.asarray(y_pred).astype(np.int64).ravel()
    if y_true.shape != y_pred.shape or y_true.size == 0:
        raise ValueError(f"y_true and y_pred must be non-empty and of one length, got {y_true.shape} and "
                         f"{y_pred.shape}")
    if num_classes is None:
        num_classes = len(train_counts) if train_counts is not None else int(max(y_true.max(), y_pred.max()) + 1)
    labels = np.arange(num_classes)
    s_default, l_default = _extreme_classes(train_counts, num_classes)
    smallest = s_default if smallest is None else int(smallest)
    largest = l_default if largest is None else int(largest)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # undefined precision/F1 are reported as NaN or 0 by design below
        recall = recall_score(y_true, y_pred, labels=labels, average=None, zero_division=0.0)
        precision_nan = precision_score(y_true, y_pred, labels=labels, average=None, zero_division=np.nan)
        specificity = specificity_score(y_true, y_pred, labels=labels, average=None)
        gm_per_class = geometric_mean_score(y_true, y_pred, labels=labels, average=None)
        out = {
            "accuracy": float(accuracy_score(y_true, y_pred)),
            "acsa": float(balanced_accuracy_score(y_true, y_pred)) if set(np.unique(y_true)) == set(labels)
            else float(np.mean(recall)),
            "gm_gamo": float(geometric_mean_score(y_true, y_pred, labels=labels, average="multiclass")),
            "gmacro_dgc": float(np.mean(gm_per_class)),
            "gm_imblearn_macro": float(geometric_mean_score(y_true, y_pred, labels=labels, average="macro")),
            "fmacro": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0.0)),
        }
    with np.errstate(invalid="ignore", divide="ignore"):
        f1_dgc = 2 * precision_nan * recall / (precision_nan + recall)
    out["fmacro_dgc"] = float(np.mean(f1_dgc))  # NaN propagates, as in DGC's code
    out["rmi"] = float(recall[smallest])
    out["pma"] = float(precision_nan[largest])
    out["rmi_class"], out["pma_class"] = smallest, largest
    out["per_class_recall"] = recall.tolist()
    out["per_class_precision"] = precision_nan.tolist()
    out["per_class_specificity"] = np.asarray(specificity, dtype=float).tolist()
    out["confusion_matrix"] = confusion_matrix(y_true, y_pred, labels=labels).tolist()
    out["labels"] = labels.tolist()
    if scores is not None:
        scores = np.asarray(scores, dtype=np.float64)
        if scores.shape == (len(y_true), num_classes) and len(np.unique(y_true)) == num_classes:
            probs = scores
            if scores.min() < 0 or not np.allclose(scores.sum(axis=1), 1.0, atol=1e-4):  # logits
                probs = np.exp(scores - scores.max(axis=1, keepdims=True))
                probs /= probs.sum(axis=1, keepdims=True)
            out["auc_ovr_macro"] = float(roc_auc_score(y_true, probs, multi_class="ovr", average="macro",
                                                       labels=labels))
    return out


def summary_line(m: dict) -> str:
    return " ".join(f"{k}={m[k]:.4f}" for k in ("acsa", "gm_gamo", "gmacro_dgc", "fmacro", "accuracy") if k in m)
