"""``run.py --budget smoke`` on real MNIST, the DGC-specific checks: an interrupted run resumes from its
checkpoint; the training log holds pretraining, every epoch and every scheduled evaluation of both prediction
rules; the last evaluation is reported; a finished run only reports (and publishes); bad input fails in one line.
The run folder's general contract is checked by the repository's own test."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from shared_data import records

ROOT = Path(__file__).resolve().parents[1]


def env():
    e = dict(os.environ)
    e.setdefault("SHARED_DATA_MIRROR", str(ROOT.parent.parent / "shared" / "data"))
    e.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return e


@pytest.fixture(scope="session")
def data_root(tmp_path_factory):
    return tmp_path_factory.mktemp("data")


def run_py(*args, timeout=600):
    return subprocess.run([sys.executable, str(ROOT / "run.py"), "--no-progress", *args], cwd=ROOT, env=env(),
                          capture_output=True, text=True, timeout=timeout)


def the_run(out: Path) -> Path:
    (path,) = (out / "dgc").iterdir()
    return path


def test_smoke_interrupt_resume_report(tmp_path, data_root):
    out = tmp_path / "runs"
    common = ("--dataset", "mnist", "--budget", "smoke", "--out", str(out), "--data-root", str(data_root))
    p = run_py(*common, "--interrupt-after-epoch", "1")
    assert p.returncode == 0, p.stderr[-3000:]
    run = the_run(out)
    assert not (run / "result.json").exists()
    assert json.loads((run / "checkpoints" / "state.json").read_text())["epochs_done"] == 1
    p = run_py(*common)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "resumed from dgc-1 (1 epochs done)" in p.stdout

    result = records.validate_run_dir(run)  # result.json, predictions.npz and metrics.jsonl agree
    assert result["method"] == "dgc" and result["variant"] == "dgc" and result["faithful"] is True
    assert result["fixes"] == {} and result["paper_method"] == "DGC" and result["budget"] == "smoke"
    assert result["eval_subset"] == 1 and result["n_test"] == 10  # the smoke budget: one test image per class
    assert result["train_counts"] == [4000, 2000, 1000, 750, 500, 350, 200, 100, 60, 40]
    disc = result["extra"]["discriminative"]
    assert np.sum(disc["confusion_matrix"]) == 10 and 0 <= disc["acsa"] <= 1

    records.validate_metrics_log(run / "metrics.jsonl")
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [(r["kind"], r["epoch"]) for r in lines] == [("pretrain", 0), ("train", 1), ("eval", 1), ("train", 2),
                                                        ("eval", 2)]
    evals = [r for r in lines if r["kind"] == "eval"]
    assert all(r["split"] == "test" and "acsa" in r["discriminative"] for r in evals)
    assert evals[-1]["metrics"]["acsa"] == result["metrics"]["acsa"]  # the last evaluation is reported
    assert evals[-1]["confusion_matrix"] == result["metrics"]["confusion_matrix"]
    # every stage ran: pretraining, LVO + main step (losses), oversampling (enlarged latent batches)
    assert lines[0]["steps"] >= 1 and lines[1]["aug_codes"] > 20  # more codes than the batch of 20

    preds = np.load(run / "predictions.npz")
    assert preds["scores"].shape == preds["logits"].shape == (10, 10) and preds["y_pred"].shape == (10,)
    np.testing.assert_allclose(preds["scores"].sum(1), 1.0, rtol=1e-5)
    assert (preds["y_pred"] == preds["scores"].argmax(1)).all()
    assert (preds["y_pred_discriminative"] == preds["logits_discriminative"].argmax(1)).all()
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["ce_reduction"] == "sum" and cfg["lr_schedule_cumulative"] is False and cfg["LVO"] is True
    for f in ("samples.png", "per_class_recall.png", "checkpoints/state.json", "predictions/epoch-002.npz"):
        assert (run / f).exists(), f

    # finished: report and publish, do not train
    p = run_py(*common, "--publish", str(tmp_path / "results"), "--allow-dirty")
    assert p.returncode == 0 and "finished" in p.stdout and "resumed" not in p.stdout, p.stderr[-3000:]
    published = list((tmp_path / "results" / "dgc").glob("*/result.json"))
    assert len(published) == 1 and json.loads(published[0].read_text())["split_hash"] == result["split_hash"]


def test_bad_input_one_line(tmp_path, data_root):
    out = tmp_path / "runs"
    p = run_py("--dataset", "cifar10", "--budget", "smoke", "--out", str(out))
    assert p.returncode == 2 and "cifar10" in p.stderr
    p = run_py("--budget", "smoke", "--epochs", "0", "--out", str(out), "--data-root", str(data_root))
    assert p.returncode == 2 and p.stderr.strip().splitlines()[-1].startswith("error: epoch_num")
    p = run_py("--budget", "smoke", "--seed", "-1", "--out", str(out), "--data-root", str(data_root))
    assert p.returncode == 2 and "seed" in p.stderr
    # the same run name with another config is refused, nothing is overwritten
    run = out / "dgc" / records.run_name("mnist", "dgc", 1, 0, "smoke", variant="dgc")
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"dataset": "mnist", "lr": 1.0}))
    p = run_py("--budget", "smoke", "--out", str(out), "--data-root", str(data_root))
    assert p.returncode == 2 and "another config" in p.stderr
