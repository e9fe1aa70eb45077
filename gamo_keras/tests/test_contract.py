"""The shared contract: ``run.py --budget smoke`` on real MNIST writes a valid run folder in under two
minutes; re-running reports instead of re-training; an interrupted run resumes; bad input fails in one line."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_py(*args, timeout=300):
    env = dict(os.environ, MPLBACKEND="Agg", TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, str(ROOT / "run.py"), *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return str(tmp_path_factory.mktemp("data"))


def _needs_mnist():
    from shared_data.fetch import DataError, fetch_dataset

    try:
        fetch_dataset("mnist", None, None, download=False)
    except DataError as exc:
        pytest.skip(f"MNIST not available offline: {exc}")


def test_smoke_run_on_real_mnist_writes_a_valid_result(tmp_path, data_root):
    _needs_mnist()
    from shared_data.records import validate_result

    t0 = time.time()
    p = run_py("--dataset", "mnist", "--budget", "smoke", "--out", str(tmp_path), "--data-root", data_root,
               "--no-progress")
    elapsed = time.time() - t0
    assert p.returncode == 0, p.stderr[-2000:]
    assert elapsed < 120, f"smoke run took {elapsed:.0f} s"
    run = tmp_path / "gamo" / "mnist-gamo-split0-seed0-smoke"
    result = validate_result(json.loads((run / "result.json").read_text()))
    assert result["method"] == "gamo" and result["variant"] == "gamo" and result["protocol"] == "gamo"
    assert result["n_test"] == 1000 and result["train_counts"] == [4000, 2000, 1000, 750, 500, 350, 200, 100, 60, 40]
    assert result["device"] and result["extra"]["relabel_order"] == [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]
    recs = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in recs] == [0, 20, 40]  # smoke: eval every 20 steps, then the final one
    with np.load(run / "predictions.npz") as z:
        assert z["y_true"].shape == (1000,) and z["scores"].shape == (1000, 10)
        assert (z["scores"].argmax(1) == z["y_pred"]).all()
        acc = float((z["y_pred"] == z["y_true"]).mean())
    assert acc == pytest.approx(result["metrics"]["accuracy"])
    for name in ("config.json", "per_class_recall.png", "samples.png", "curves.png"):
        assert (run / name).exists(), name
    assert list((run / "checkpoints").glob("state_*.npz"))
    again = run_py("--dataset", "mnist", "--budget", "smoke", "--out", str(tmp_path), "--data-root", data_root)
    assert again.returncode == 0 and "finished earlier" in again.stdout


def test_interrupted_cli_run_resumes(tmp_path, data_root):
    _needs_mnist()
    args = ["--dataset", "mnist", "--budget", "smoke", "--out", str(tmp_path), "--data-root", data_root,
            "--no-progress", "--model", "baseline", "--max-step", "30", "--eval-every", "10", "--save-every", "10"]
    first = run_py(*args, "--stop-after", "10")
    assert first.returncode == 0 and "stopped after iteration 10" in first.stdout, first.stderr[-2000:]
    run = tmp_path / "gamo" / "mnist-gamo-baseline-split0-seed0-smoke"
    assert not (run / "result.json").exists()
    second = run_py(*args)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "resumed from state_000010.npz" in second.stdout + second.stderr
    steps = [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [0, 10, 20, 30]  # nothing duplicated, nothing lost
    assert json.loads((run / "result.json").read_text())["variant"] == "baseline"


def test_bad_input_is_a_one_line_error(tmp_path, data_root):
    p = run_py("--dataset", "imagenet", "--out", str(tmp_path))
    assert p.returncode == 2 and "imagenet" in p.stderr
    p = run_py("--dataset", "mnist", "--budget", "smoke", "--max-step", "7", "--out", str(tmp_path))
    last = p.stderr.strip().splitlines()[-1]
    assert p.returncode == 2 and last.startswith("error:") and "multiple of 2" in last
    # a corrupt checkpoint stops the run with one line that names the file
    _needs_mnist()
    ck = tmp_path / "gamo" / "mnist-gamo-baseline-split0-seed0-smoke" / "checkpoints"
    ck.mkdir(parents=True)
    (ck / "state_000010.npz").write_bytes(b"not a checkpoint")
    p = run_py("--dataset", "mnist", "--budget", "smoke", "--model", "baseline", "--out", str(tmp_path),
               "--data-root", data_root, "--no-progress")
    last = p.stderr.strip().splitlines()[-1]
    assert p.returncode == 2 and last.startswith("error:") and "state_000010.npz" in last
    assert "Traceback" not in p.stderr


@pytest.mark.slow
def test_fashion_smoke_and_gamo2pix(tmp_path, data_root):
    from shared_data.records import validate_result

    base = ["--dataset", "fashion", "--budget", "smoke", "--out", str(tmp_path), "--data-root", data_root,
            "--no-progress"]
    p = run_py(*base)
    assert p.returncode == 0, p.stderr[-2000:]
    run = tmp_path / "gamo" / "fashion-gamo-split0-seed0-smoke"
    validate_result(json.loads((run / "result.json").read_text()))
    p = run_py(*base, "--stage", "gamo2pix")
    assert p.returncode == 0, p.stderr[-2000:]
    assert (run / "gamo2pix" / "samples.png").exists()
