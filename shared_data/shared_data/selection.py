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


def run_accuracies(result: dict, metrics_log: list[dict], window: int = 20) -> dict | None:
    """The three accuracies of a published run that carries a best and a final test accuracy: from its
    ``extra.accuracies`` when it has them, else derived from ``extra`` and its committed ``metrics.jsonl``.
    None for a run of a method that does not select on the test set."""
    extra = result.get("extra") or {}
    if isinstance(extra.get("accuracies"), dict):
        return extra["accuracies"]
    if extra.get("best_test_accuracy") is None or extra.get("final_accuracy") is None:
        return None
    return accuracies(best=extra["best_test_accuracy"], best_step=extra.get("best_step"),
                      final=extra["final_accuracy"], late=late_mean(metrics_log, window), window=window)


# How a record's reported number was chosen, as the result tables name it (``reported_rule``).
RULE_LABELS = {
    "best_test": "best on test (selected on the test set)",
    "val": "best on a held-out validation part",
    "final": "final model",
    "last_eval": "last evaluation",
    "fixed": "an epoch set in advance",
}


def reported_rule(result: dict) -> str:
    """Which rule made a record's metrics, in the words of :data:`RULE_LABELS`; ``"not recorded"`` for a record
    that does not say. Read from what each method writes: ``extra.reported`` (a run that evaluates during training
    and may report its best evaluation), ``extra.report_rule`` or ``extra.reported_model``, else a
    ``report_epoch`` set in the config, else the epoch it reports (``extra.reported_epoch`` or
    ``extra.report_epoch``: the last evaluation of a run that does not select)."""
    extra = result.get("extra") or {}
    texts = [extra["reported"].get("model")] if isinstance(extra.get("reported"), dict) else []
    texts += [extra.get("report_rule"), extra.get("reported_model")]
    for text in (t.lower() for t in texts if isinstance(t, str)):
        if "validation" in text:
            return RULE_LABELS["val"]
        if "best" in text and "test" in text:
            return RULE_LABELS["best_test"]
        if text.startswith("final"):
            return RULE_LABELS["final"]
        if text.startswith("last"):
            return RULE_LABELS["last_eval"]
        if text == "report_epoch":
            return RULE_LABELS["fixed"]
    if (result.get("config") or {}).get("report_epoch") is not None:
        return RULE_LABELS["fixed"]
    if any(isinstance(extra.get(k), int) for k in ("reported_epoch", "report_epoch")):
        return RULE_LABELS["last_eval"]
    return "not recorded"


def _read_log(path) -> list[dict]:
    import json
    from pathlib import Path

    path = Path(path)
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


def _pct(x) -> str:
    return "" if x is None else f"{100 * x:.2f}"


def _mean_std(values) -> str:
    import statistics

    values = [v for v in values if v is not None]
    if not values:
        return ""
    if len(values) == 1:
        return f"{100 * values[0]:.2f}"
    return f"{100 * statistics.mean(values):.2f} ± {100 * statistics.stdev(values):.2f}"
