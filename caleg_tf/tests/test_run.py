"""Smoke runs on real MNIST for what is CaLeG's own (the phases and refits in metrics.jsonl, logits beside the
probabilities, the smoke budget's test cut), resume after an interruption, bad input. That a smoke run's folder
and result.json meet the shared contract is the repository's contract test (tests/test_contract.py)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
HAVE_MNIST = bool(os.environ.get("SHARED_DATA_MIRROR")) or (ROOT.parent / "data" / "mnist").exists()
needs_mnist = pytest.mark.skipif(not HAVE_MNIST, reason="MNIST not available (set SHARED_DATA_MIRROR)")
sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return str(tmp_path_factory.mktemp("data"))


def only_run(out: Path) -> Path:
    runs = [p for p in (out / "caleg").iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def read_log(run: Path):
    log = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in log if r.get("kind") != "eval"]
    evals = [r for r in log if r.get("kind") == "eval"]
    return train, evals


@needs_mnist
def test_smoke_run_logs_both_phases_the_refit_pools_and_logits(tmp_path, data_root):
    import run as run_py

    assert run_py.main(["--dataset", "mnist", "--budget", "smoke", "--out", str(tmp_path), "--data-root", data_root,
                        "--no-progress"]) == 0
    run = only_run(tmp_path)
    result = json.loads((run / "result.json").read_text())
    assert result["variant"] == "caleg r=1" and result["faithful"] and result["paper_method"] == "CaLeG"
    assert result["train_counts"] == [4000, 2000, 1000, 750, 500, 350, 200, 100, 60, 40]
    assert result["eval_subset"] == 50 and np.sum(result["metrics"]["confusion_matrix"]) == 500  # 50 per class
    assert result["extra"]["tf_threads"]["intra_op"] == os.environ.get("TF_NUM_INTRAOP_THREADS",
                                                                       "default (one per core)")
    train, evals = read_log(run)
    assert [r["phase"] for r in train] == [1, 2]  # one warm-up epoch, then phase 2 after the first refit
    assert "loss_disc" not in train[0] and 0 < train[0]["train_acc"] <= 1  # the warm-up has no G or D loss
    assert train[1]["loss_disc"] != 0.0 and train[1]["pooled_generated"] == train[1]["accepted_generated"]
    assert [(r["split"], r["epoch"]) for r in evals] == [("test", 0), ("test", 1)]
    assert result["metrics"]["acsa"] == pytest.approx(evals[-1]["metrics"]["acsa"])  # the last epoch is reported
    assert sorted(p.name for p in (run / "refits").iterdir()) == ["epoch000.npz", "epoch001.npz"]
    with np.load(run / "refits" / "epoch001.npz") as f:  # the refit pools real codes and every accepted one
        assert (f["pool_counts"] - f["real_counts"]).sum() == train[1]["pooled_generated"]
    with np.load(run / "predictions.npz") as f, np.load(run / "epochs" / "epoch001.npz") as e:
        np.testing.assert_array_equal(f["logits"], e["logits"])  # C's logits, as the original saved them
        probs = np.exp(f["logits"] - f["logits"].max(1, keepdims=True))
        np.testing.assert_allclose(f["scores"], probs / probs.sum(1, keepdims=True), rtol=1e-5, atol=1e-7)
        np.testing.assert_array_equal(f["y_pred"], f["logits"].argmax(1))


@needs_mnist
def test_refit_real_only_pools_no_generated_codes(tmp_path, data_root):
    import run as run_py

    assert run_py.main(["--dataset", "mnist", "--budget", "smoke", "--out", str(tmp_path), "--data-root", data_root,
                        "--no-progress", "--refit-real-only"]) == 0
    run = only_run(tmp_path)
    assert json.loads((run / "result.json").read_text())["fixes"] == {"refit_real_only": True}
    train, _ = read_log(run)
    assert train[1]["pooled_generated"] == 0 and train[1]["accepted_generated"] >= 0
    with np.load(run / "refits" / "epoch001.npz") as f:
        np.testing.assert_array_equal(f["pool_counts"], f["real_counts"])


@needs_mnist
def test_interrupted_run_resumes_and_a_finished_run_reports(tmp_path, data_root, capsys):
    import run as run_py

    args = ["--dataset", "mnist", "--budget", "smoke", "--out", str(tmp_path), "--data-root", data_root,
            "--no-progress", "--aug-rate", "0.5"]
    assert run_py.main(args + ["--stop-after-epoch", "1"]) == 3
    run = only_run(tmp_path)
    state = json.loads((run / "checkpoints" / "state.json").read_text())
    assert state["epoch"] == 0 and state["last_fit_epoch"] == 0 and not (run / "result.json").exists()
    assert run_py.main(args) == 0
    assert "resuming" in capsys.readouterr().out
    train, evals = read_log(run)
    assert [r["epoch"] for r in train] == [0, 1] and [r["epoch"] for r in evals] == [0, 1]
    first = json.loads((run / "result.json").read_text())
    assert first["variant"] == "caleg r=0.5"
    # finished: reports without training, and publishes (from a checkout with edits, hence --allow-dirty)
    assert run_py.main(args + ["--publish", str(tmp_path / "results"), "--allow-dirty"]) == 0
    assert "finished earlier" in capsys.readouterr().out
    published = next((tmp_path / "results" / "caleg").glob("*/result.json"))
    assert {k: v for k, v in json.loads(published.read_text()).items() if k != "published_with_allow_dirty"} == first
    assert (published.parent / "metrics.jsonl").read_text() == (run / "metrics.jsonl").read_text()
    assert json.loads((run / "result.json").read_text())["created_utc"] == first["created_utc"]


def test_grid_runs_each_line_with_the_command_flags(tmp_path):
    import run as run_py

    grid = tmp_path / "grid.txt"
    grid.write_text("# comment\n-   # faithful\n\n--aug-rate 0\n--refit-real-only --cov-ridge 1e-3\n")
    todo = run_py.commands(["--dataset", "fashion", "--budget", "quick", "--seeds", "1,2", "--grid", str(grid)])
    assert [(a.dataset, a.budget, a.seeds, a.aug_rate, a.refit_real_only, a.cov_ridge) for a in todo] == [
        ("fashion", "quick", "1,2", 1.0, False, 0.0), ("fashion", "quick", "1,2", 0.0, False, 0.0),
        ("fashion", "quick", "1,2", 1.0, True, 1e-3)]
    grid.write_text("--ce-reduction median\n")
    with pytest.raises(SystemExit):  # every line is parsed before anything trains
        run_py.commands(["--grid", str(grid)])


def test_bad_input_gives_one_line_errors(tmp_path):
    base = [sys.executable, str(ROOT / "run.py"), "--out", str(tmp_path), "--data-root", str(tmp_path)]
    p = subprocess.run(base + ["--dataset", "celebaa"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "celebaa" in p.stderr
    p = subprocess.run(base + ["--seeds", "1,x"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and p.stderr.strip() == "error: --seeds takes comma-separated integers, got '1,x'"
    p = subprocess.run(base + ["--seeds", "1,-2"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and p.stderr.strip() == "error: --seeds takes non-negative integers, got '1,-2'"
    p = subprocess.run(base + ["--seed", "-1", "--budget", "smoke", "--stop-after-epoch", "1"], capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 2 and "seed" in p.stderr
