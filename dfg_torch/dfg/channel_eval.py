"""Filter importance by ablation (train.py ``calculate_weighting_feature_maps_*``, opensuh/DFG@fa1218f L206-317).

Extractor: over shuffled training batches, keep the first ``label_min`` images of every class; per image the CE
with conv1 intact and with each conv1 filter's weights zeroed (bias kept). Classifier (DELTA's channel_eval.py):
on the first 4 shuffled batches, mean CE with each conv2 filter zeroed minus the intact mean CE, averaged.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def collect_per_class(y: np.ndarray, num_classes: int, label_min: int, batch_size: int,
                      generator: torch.Generator) -> np.ndarray:
    """Positions in the order the shuffled loader yields them, each class capped at ``label_min``
    (a class with fewer images contributes all of them)."""
    order = torch.randperm(len(y), generator=generator).numpy()
    counts = np.zeros(num_classes, dtype=int)
    target = np.minimum(np.bincount(y, minlength=num_classes), label_min)
    chosen = []
    for start in range(0, len(order), batch_size):
        for i in order[start:start + batch_size]:
            if counts[y[i]] < label_min:
                counts[y[i]] += 1
                chosen.append(i)
        if (counts >= target).all():
            break
    return np.asarray(chosen, dtype=np.int64)


@torch.no_grad()
def extractor_importance(extractor, classifier, x: torch.Tensor, y: torch.Tensor, sign: str = "dfg") -> np.ndarray:
    """(N, C) importance w_ij of conv1 filter j for image i: L_base - L_without_j (``dfg``, train.py L437) or
    L_without_j - L_base (``delta``, DELTA's and DFG's own classifier sign)."""
    weight = extractor.model[0].weight
    base = F.cross_entropy(classifier(extractor(x)), y, reduction="none")
    out = []
    for j in range(weight.shape[0]):
        keep = weight[j].clone()
        weight[j] = 0
        try:
            out.append(F.cross_entropy(classifier(extractor(x)), y, reduction="none"))
        finally:
            weight[j] = keep
    without = torch.stack(out, dim=1)
    w = base[:, None] - without if sign == "dfg" else without - base[:, None]
    return w.double().cpu().numpy()


@torch.no_grad()
def classifier_importance(extractor, classifier, batches) -> list[list[float]]:
    """Per conv2 filter: mean over ``batches`` of CE_mean(without j) - CE_mean(base) (train.py L273-317)."""
    weight = classifier.feature[0].weight
    total = np.zeros(weight.shape[0])
    for i, (x, y) in enumerate(batches):
        base = F.cross_entropy(classifier(extractor(x)), y)
        for j in range(weight.shape[0]):
            keep = weight[j].clone()
            weight[j] = 0
            try:
                diff = (F.cross_entropy(classifier(extractor(x)), y) - base).item()
            finally:
                weight[j] = keep
            total[j] = (i * total[j] + diff) / (i + 1)  # the original's running mean
    return [total.tolist()]
