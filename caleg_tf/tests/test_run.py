"""Contract test (run.py --budget smoke on real MNIST, valid result.json), resume, bad input."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from shared_data.records import validate_result

ROOT = Path(__file__).resolve().parents[1]
HAVE_MNIST = bool(os.environ.get("SHARED_DATA_MIRROR")) or (ROOT.parent / "data" / "mnist").exists()
needs_mnist = pytest.mark.skipif(not HAVE_MNIST, reason="MNIST not available (set SHARED_DATA_MIRROR)")


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return str(tmp_path_factory.mktemp("data"))


@needs_mnist
def test_smoke_contract_on_real_mnist(tmp_path, data_root):
    out = tmp_path / "runs"
    cmd = [sys.executable, str(ROOT / "run.py"), "--dataset", "mnist", "--budget", "smoke", "--out", str(out),
           "--data-root", data_root, "--no-progress"]
    threads = os.environ.get("TF_NUM_INTRAOP_THREADS", "2")
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                       env={**os.environ, "TF_NUM_INTRAOP_THREADS": threads})
    assert p.returncode == 0, p.stderr[-3000:]
    run = out / "caleg" / "mnist-dgc-r1-split1-seed1-smoke"
    result = validate_result(json.loads((run / "result.json").read_text()))
    assert result["method"] == "caleg" and result["variant"] == "caleg-r1" and result["budget"] == "smoke"
    assert result["train_counts"] == [4000, 2000, 1000, 750, 500, 350, 200, 100, 60, 40]
    assert result["extra"]["test_subsampled"] and result["n_test"] == 500
    assert result["extra"]["tf_threads"]["intra_op"] == threads  # the summation order depends on it
    for name in ("config.json", "metrics.jsonl", "predictions.npz", "per_class_recall.png", "curves.png"):
        assert (run / name).exists(), name
    log = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["phase"] for r in log] == [1, 2]  # one warm-up epoch, then phase 2 after the first refit
    assert "loss_disc" not in log[0] and 0 < log[0]["train_acc"] <= 1  # the warm-up has no G or D loss
    assert log[1]["loss_disc"] != 0.0 and log[1]["pooled_generated"] == log[1]["accepted_generated"]
    assert sorted(p.name for p in (run / "refits").iterdir()) == ["epoch000.npz", "epoch001.npz"]
    with np.load(run / "refits" / "epoch001.npz") as f:  # the refit pools real codes and every accepted one
        assert (f["pool_counts"] - f["real_counts"]).sum() == log[1]["pooled_generated"]


@needs_mnist
def test_refit_real_only_pools_no_generated_codes(tmp_path, data_root):
    sys.path.insert(0, str(ROOT))
    import run as run_py

    assert run_py.main(["--dataset", "mnist", "--budget", "smoke", "--out", str(tmp_path), "--data-root", data_root,
                        "--no-progress", "--refit-real-only"]) == 0
    run = tmp_path / "caleg" / "mnist-dgc-r1-rro-split1-seed1-smoke"
    log = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert log[1]["pooled_generated"] == 0 and log[1]["accepted_generated"] >= 0
    with np.load(run / "refits" / "epoch001.npz") as f:
        np.testing.assert_array_equal(f["pool_counts"], f["real_counts"])


@needs_mnist
def test_interrupted_run_resumes_and_a_finished_run_reports(tmp_path, data_root, capsys):
    sys.path.insert(0, str(ROOT))
    import run as run_py

    args = ["--dataset", "mnist", "--budget", "smoke", "--out", str(tmp_path), "--data-root", data_root,
            "--no-progress", "--aug-rate", "0.5"]
    run = tmp_path / "caleg" / "mnist-dgc-r0.5-split1-seed1-smoke"
    assert run_py.main(args + ["--stop-after-epoch", "1"]) == 3
    state = json.loads((run / "checkpoints" / "state.json").read_text())
    assert state["epoch"] == 0 and state["last_fit_epoch"] == 0 and not (run / "result.json").exists()
    assert run_py.main(args) == 0
    assert "resuming" in capsys.readouterr().out
    log = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [0, 1]
    first = validate_result(json.loads((run / "result.json").read_text()))
    assert run_py.main(args + ["--publish", str(tmp_path / "results")]) == 0  # finished: reports, no training
    assert "finished earlier" in capsys.readouterr().out
    published = tmp_path / "results" / "caleg" / run.name / "result.json"
    assert json.loads(published.read_text()) == first
    assert (published.parent / "metrics.jsonl").read_text() == (run / "metrics.jsonl").read_text()
    assert json.loads((run / "result.json").read_text())["created_utc"] == first["created_utc"]


def test_bad_input_gives_one_line_errors(tmp_path):
    base = [sys.executable, str(ROOT / "run.py"), "--out", str(tmp_path), "--data-root", str(tmp_path)]
    p = subprocess.run(base + ["--dataset", "celebaa"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "celebaa" in p.stderr
    p = subprocess.run(base + ["--seeds", "1,x"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and p.stderr.strip() == "error: --seeds takes comma-separated integers, got '1,x'"
