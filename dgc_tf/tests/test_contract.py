"""Contract: ``run.py --budget smoke`` on real MNIST writes a valid run folder in under two minutes; an
interrupted run resumes from its checkpoint; a finished run reports instead of training; bad input fails in one
line."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from shared_data import records

ROOT = Path(__file__).resolve().parents[1]
RUN_DIR = "dgc/mnist-dgc-split1-seed0-smoke"


def env():
    e = dict(os.environ)
    e.setdefault("SHARED_DATA_MIRROR", str(ROOT.parent.parent / "shared" / "data"))
    e.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return e


@pytest.fixture(scope="session")
def data_root(tmp_path_factory):
    return tmp_path_factory.mktemp("data")


def run_py(*args, timeout=300):
    return subprocess.run([sys.executable, str(ROOT / "run.py"), "--no-progress", *args], cwd=ROOT, env=env(),
                          capture_output=True, text=True, timeout=timeout)


def test_smoke_contract(tmp_path, data_root):
    t0 = time.time()
    p = run_py("--dataset", "mnist", "--budget", "smoke", "--out", str(tmp_path), "--data-root", str(data_root))
    wall = time.time() - t0
    assert p.returncode == 0, p.stderr[-3000:]
    assert wall < 120, f"smoke run took {wall:.0f} s"
    run = tmp_path / RUN_DIR
    result = records.validate_result(json.loads((run / "result.json").read_text()))
    assert result["method"] == "dgc" and result["variant"] == "dgc" and result["budget"] == "smoke"
    assert result["device"].startswith(("cpu:", "gpu:"))
    assert result["n_test"] == 10 and result["extra"]["n_test_official"] == 10000
    assert result["train_counts"] == [4000, 2000, 1000, 750, 500, 350, 200, 100, 60, 40]
    disc = result["extra"]["discriminative"]
    assert np.sum(disc["confusion_matrix"]) == 10 and 0 <= disc["acsa"] <= 1
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["kind"] for r in lines] == ["pretrain", "train", "eval", "train", "eval"]
    assert all("discriminative" in r for r in lines if r["kind"] == "eval")
    assert lines[-1]["acsa"] == result["metrics"]["acsa"]  # the last evaluation is reported
    # every stage ran: pretraining, LVO + main step (losses), oversampling (enlarged latent batches)
    assert lines[0]["steps"] >= 1 and lines[1]["aug_codes"] > 20  # more codes than the batch of 20
    preds = np.load(run / "predictions.npz")
    assert preds["probs"].shape == (10, 10) and preds["y_pred"].shape == (10,)
    np.testing.assert_allclose(preds["probs"].sum(1), 1.0, rtol=1e-5)
    assert (preds["y_pred"] == preds["probs"].argmax(1)).all()
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["ce_reduction"] == "sum" and cfg["lr_schedule_cumulative"] is False and cfg["LVO"] is True
    for f in ("samples.png", "per_class_recall.png", "checkpoints/state.json"):
        assert (run / f).exists(), f


def test_resume_after_interruption(tmp_path, data_root):
    common = ("--budget", "smoke", "--out", str(tmp_path), "--data-root", str(data_root))
    p = run_py(*common, "--interrupt-after-epoch", "1")
    assert p.returncode == 0, p.stderr[-3000:]
    run = tmp_path / RUN_DIR
    assert not (run / "result.json").exists()
    assert json.loads((run / "checkpoints" / "state.json").read_text())["epochs_done"] == 1
    p = run_py(*common)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "resumed from dgc-1 (1 epochs done)" in p.stdout
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [(r["kind"], r["epoch"]) for r in lines] == [("pretrain", 0), ("train", 1), ("eval", 1), ("train", 2),
                                                        ("eval", 2)]
    records.validate_result(json.loads((run / "result.json").read_text()))
    p = run_py(*common)  # finished: report, do not train
    assert p.returncode == 0 and "finished" in p.stdout and "resumed" not in p.stdout


def test_bad_input_one_line(tmp_path, data_root):
    p = run_py("--dataset", "cifar10", "--budget", "smoke", "--out", str(tmp_path))
    assert p.returncode == 2 and "cifar10" in p.stderr
    p = run_py("--budget", "smoke", "--epochs", "0", "--out", str(tmp_path), "--data-root", str(data_root))
    assert p.returncode == 2 and p.stderr.strip().splitlines()[-1].startswith("error: epoch_num")
    # the same run name with another config is refused, nothing is overwritten
    (tmp_path / RUN_DIR).mkdir(parents=True)
    (tmp_path / RUN_DIR / "config.json").write_text(json.dumps({"dataset": "mnist", "lr": 1.0}))
    p = run_py("--budget", "smoke", "--out", str(tmp_path), "--data-root", str(data_root))
    assert p.returncode == 2 and "another config" in p.stderr
