"""The structure loss (``utils.get_structure_loss``) and the edge lists of ``experiment.py``.

An edge (i, j) compares predicted code j with input code i: m(i -> j) = MSE(pred[:, j], code[:, i]).
The released loss is Σ_positive m − Σ_negative m − Σ_{i <= j} MSE(pred[:, i], code[:, j]) when that is
positive, and 0 otherwise (``utils.py`` L136-139). Every self-edge (i, i) appears in the positive sum and
again, with the same value, in the last sum, so the self-edges cancel: even with the hinge open the loss holds
no reconstruction term for any code.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

# experiment.py L87-88 (fudonglin/IMSIC@649abbd): c3 depends on c0, c1, c2, plus the self-edges
CODE_POSITIVE = ((0, 0), (1, 1), (2, 2), (0, 3), (1, 3), (2, 3), (3, 3))
CODE_NEGATIVE = ((0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
# The repository figure's DAG c'1 -> c'2, c'2 -> c'4, c'3 -> c'4 (0-based), same (i, j) convention
FIGURE_DAG = ((0, 1), (1, 3), (2, 3))


def edge_lists(which: str = "code", code_dim: int = 4, clip: bool = False):
    """(positive, negative) edges. ``which="code"``: the released lists; ``"figure"``: self-edges plus the
    figure's DAG, every other ordered off-diagonal pair negative. ``clip`` drops every edge touching a code
    >= code_dim; without it a list that names a missing code is an error (the original's IndexError)."""
    if which == "code":
        pos, neg = list(CODE_POSITIVE), list(CODE_NEGATIVE)
    elif which == "figure":
        n = max(code_dim, 4)
        pos = [(i, i) for i in range(n)] + list(FIGURE_DAG)
        neg = [(i, j) for i in range(n) for j in range(n) if i != j and (i, j) not in FIGURE_DAG]
    else:
        raise ValueError(f"edges must be 'code' or 'figure', got {which!r}")
    if clip:
        pos = [e for e in pos if max(e) < code_dim]
        neg = [e for e in neg if max(e) < code_dim]
    elif any(max(e) >= code_dim for e in pos + neg):
        raise ValueError(f"the {which} edge lists name code 3 but code_dim is {code_dim}; the released code "
                         f"fails there (an IndexError); pass --edges-clip-to-code-dim to drop those edges")
    return tuple(pos), tuple(neg)


def _m(pred: torch.Tensor, code: torch.Tensor, edge) -> torch.Tensor:
    i, j = edge
    return F.mse_loss(pred[:, j], code[:, i])


def structure_terms(code: torch.Tensor, pred: torch.Tensor, positive, negative):
    """(Σ positive, Σ negative, Σ gains2) as tensors, in the original's summation order."""
    losses = [_m(pred, code, e) for e in positive]
    gains = [_m(pred, code, e) for e in negative]
    d = pred.shape[1]
    gains2 = [F.mse_loss(pred[:, i], code[:, j]) for i in range(d) for j in range(i, d)]
    return sum(losses), sum(gains), sum(gains2)


def structure_loss(code: torch.Tensor, pred: torch.Tensor, positive, negative, form: str = "hinge"):
    """Return (loss, opened). ``form="hinge"``: the released loss, 0 (no gradient) unless Σpos exceeds or
    equals Σneg + Σgains2 (``opened`` says so); ``form="positive"``: Σ positive only (fix)."""
    if form == "positive":
        return sum(_m(pred, code, e) for e in positive), True
    if form != "hinge":
        raise ValueError(f"structure_loss must be 'hinge' or 'positive', got {form!r}")
    pos, neg, gains2 = structure_terms(code, pred, positive, negative)
    if bool(neg + gains2 > pos):  # utils.py L136: `if sum(gains) + sum(gains2) > sum(losses): return 0`
        return pred.new_zeros(()), False
    return pos - neg - gains2, True
