"""How a run's reported number was chosen, and the numbers the other rules would have given.

A method that evaluates on the test set during training and reports the best evaluation selects its model on the
test set. Its ``result.json`` then carries, beside that number, the two that involve no selection:

    best_test    the best test accuracy over the run's evaluations (what such an original prints)
    final        the accuracy of the model after the last step (what such an original saves)
    late_mean    the mean test accuracy over the last ``window`` evaluations (how far the late model drifts)

>>> log = [{"kind": "eval", "split": "test", "step": s, "metrics": {"accuracy": a}}
...        for s, a in [(100, 0.5), (200, 0.8), (300, 0.6), (400, 0.7)]]
>>> late_mean(log, window=2)
0.65
>>> accuracies(best=0.8, best_step=200, final=0.7, late=late_mean(log, 2), window=2)["late_mean"]
{'accuracy': 0.65, 'window': 2, 'rule': 'mean test accuracy over the last 2 evaluations'}
"""
from __future__ import annotations

import math

RULES = {
    "best_test": "best test accuracy over the run (selected on the test set)",
    "final": "the model after the last step (no selection)",
    "val": "the step with the best accuracy on a held-out part of the training split",
}


def test_evaluations(metrics_log: list[dict]) -> list[tuple[int, float]]:
    """(step, test accuracy) of the evaluations made during training, in step order (a final-model record,
    marked ``model``, is left out)."""
    out = {}
    for rec in metrics_log:
        if rec.get("kind") != "eval" or rec.get("split") != "test" or rec.get("model") is not None:
            continue
        acc = (rec.get("metrics") or {}).get("accuracy")
        step = rec.get("step")
        if isinstance(acc, (int, float)) and isinstance(step, int) and math.isfinite(acc):
            out[step] = float(acc)  # a resumed run may log a step twice: the later line wins
    return sorted(out.items())


def late_mean(metrics_log: list[dict], window: int = 20) -> float | None:
    """Mean test accuracy over the last ``window`` evaluations of the log, None when it has none."""
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    accs = [a for _, a in test_evaluations(metrics_log)][-window:]
    return round(sum(accs) / len(accs), 6) if accs else None


def accuracies(*, best: float | None, best_step: int | None, final: float | None, late: float | None,
               window: int) -> dict:
    """The three accuracies of a run that selected on the test set, each named with its rule."""
    return {
        "best_test": {"accuracy": best, "step": best_step, "rule": RULES["best_test"]},
        "final": {"accuracy": final, "rule": RULES["final"]},
        "late_mean": {"accuracy": late, "window": window,
                      "rule": f"mean test accuracy over the last {window} evaluations"},
    }
