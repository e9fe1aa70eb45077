"""A stand-in method's run.py for the runner's tests: the common flags, a run folder and a published result
written through shared_data.records (so they pass the same validators as a real run), in a fraction of a second.

Files in $FAKE_CONTROL steer it, per run (``<method>-<run name>``):
- ``fail-<run>``: print an error to stderr and exit 2;
- ``block-<run>``: after marking the run folder as started, wait until the file is removed.
Every invocation appends one JSON line to ``$FAKE_CONTROL/invocations.jsonl``: the run, whether it resumed a
started run folder, its thread settings, and how many fake runs were running when it started.
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from shared_data import records
from shared_data.variants import Variant


def scores_of(y_true, y_pred, k):
    """The record's metrics, with numpy alone (a fake need not pay scikit-learn's import): the validators check
    the confusion matrix, the recalls, ACSA and accuracy against each other."""
    cm = np.zeros((k, k), dtype=int)
    np.add.at(cm, (y_true, y_pred), 1)
    recall = np.diag(cm) / cm.sum(axis=1)
    precision = np.diag(cm) / np.maximum(cm.sum(axis=0), 1)
    spec = np.array([(cm.sum() - cm[c].sum() - cm[:, c].sum() + cm[c, c]) / (cm.sum() - cm[c].sum())
                     for c in range(k)])
    f1 = np.where(recall + precision > 0, 2 * recall * precision / np.maximum(recall + precision, 1e-12), 0)
    return {"accuracy": float(np.trace(cm) / cm.sum()), "acsa": float(recall.mean()),
            "gm_gamo": float(np.prod(recall) ** (1 / k)), "gmacro_dgc": float(np.mean(np.sqrt(recall * spec))),
            "fmacro": float(f1.mean()), "rmi": float(recall[-1]), "pma": float(precision[0]),
            "per_class_recall": recall.tolist(), "confusion_matrix": cm.tolist()}


def write_run(out, method, dataset, protocol, split_seed, seed, budget, variant, baseline=False, block=None,
              seconds=0.0, device=None):
    """A finished run folder, or the one already there (a resumed run continues in it)."""
    name = records.run_name(dataset, protocol, split_seed, seed, budget, variant=variant)
    run = records.RunDir.create(out, method, name, config={"model": variant, "seed": seed})
    if run.is_complete():
        return run
    (run.path / "started").touch()
    deadline = time.time() + 120
    while block is not None and block.exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(seconds)
    rng = np.random.default_rng([split_seed, seed, len(variant)])
    y_true = np.repeat(np.arange(3), 10)
    y_pred = np.where(rng.random(30) < 0.7, y_true, rng.integers(0, 3, 30))
    scores = np.eye(3)[y_pred] * 0.9 + 0.1 / 3
    m = scores_of(y_true, y_pred, 3)
    run.log_eval("test", m, step=1)
    run.save_predictions(y_true=y_true, y_pred=y_pred, scores=scores)
    split = SimpleNamespace(eval_subset="full", dataset=dataset, protocol=protocol,
                            split_id=f"{dataset}-{protocol}-s{split_seed}", split_hash="0" * 64,
                            split_seed=split_seed, train_counts=[20, 10, 5], y_test=y_true)
    run.write_result(records.make_result(
        method=method, framework="numpy", split=split, seed=seed, budget=budget,
        device=device or records.describe_device(), wall_time_s=0.1, metrics=m, config=run.config,
        variant=Variant(variant, True, {}), paper_method=None if baseline else method.upper()))
    return run


def main() -> int:
    p = argparse.ArgumentParser()
    for flag in ("--dataset", "--protocol", "--budget", "--out", "--data-root", "--publish"):
        p.add_argument(flag)
    p.add_argument("--split-seed", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--model", default=None)
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--allow-dirty", action="store_true")
    args = p.parse_args()
    method = Path.cwd().name.split("_")[0]
    variant = args.model or method
    name = records.run_name(args.dataset, args.protocol, args.split_seed, args.seed, args.budget, variant=variant)
    control = Path(os.environ["FAKE_CONTROL"])
    run_id = f"{method}-{name}"
    running = control / "running"
    running.mkdir(exist_ok=True)
    (running / run_id).touch()
    run_dir = Path(args.out) / method / name
    entry = {"run": run_id, "resumed": (run_dir / "started").exists(), "finished_before":
             (run_dir / "result.json").exists(), "concurrent": len(list(running.iterdir())),
             "threads": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS")}}
    with open(control / "invocations.jsonl", "a") as f:
        f.write(json.dumps(entry) + "\n")
    try:
        if (control / f"fail-{run_id}").exists():
            print("error: the fake method fails on purpose", file=sys.stderr)
            return 2
        run = write_run(args.out, method, args.dataset, args.protocol, args.split_seed, args.seed, args.budget,
                        variant, baseline=bool(args.model),
                        block=control / f"block-{run_id}", seconds=float(os.environ.get("FAKE_SECONDS", "0")))
        if args.publish:
            print(f"published {records.publish(run.path, args.publish, allow_dirty=args.allow_dirty)}")
        return 0
    finally:
        (running / run_id).unlink()


if __name__ == "__main__":
    sys.exit(main())
