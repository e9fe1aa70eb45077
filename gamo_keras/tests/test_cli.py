"""GAMO-specific checks of ``run.py`` runs on real MNIST (the shared contract of every run folder is checked by
the repository's tests/test_contract.py): the evaluation schedule in metrics.jsonl, the relabel map, the
pictures, publishing, a resumed CLI run, one-line errors."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from shared_data import records

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


def _evals(run, split):
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return [r for r in lines if r.get("kind") == "eval" and r["split"] == split]


def test_smoke_run_evaluates_on_gamo_schedule_and_publishes(tmp_path, data_root):
    _needs_mnist()
    p = run_py("--dataset", "mnist", "--budget", "smoke", "--out", str(tmp_path), "--data-root", data_root,
               "--no-progress")
    assert p.returncode == 0, p.stderr[-2000:]
    run = tmp_path / "gamo" / records.run_name("mnist", "gamo", 0, 0, "smoke", variant="gamo")
    result = records.validate_result(json.loads((run / "result.json").read_text()))
    assert (result["variant"], result["faithful"], result["fixes"]) == ("gamo", True, {})
    assert result["paper_method"] == "GAMO" and result["eval_subset"] == "full"
    assert result["framework"].startswith("tensorflow ") and "keras 3" in result["framework"]
    assert result["extra"]["relabel_order"] == [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]  # ascending training count
    # the original evaluates when step % period == 0 (before the step += 2), then once at the end
    for split in ("test", "train"):
        assert [r["step"] for r in _evals(run, split)] == [0, 20, 40]
    last = _evals(run, "test")[-1]
    assert last["metrics"]["acsa"] == pytest.approx(result["metrics"]["acsa"])
    assert np.asarray(last["tpr_relabelled"]) == pytest.approx(np.asarray(last["per_class_recall"])[::-1])
    with np.load(run / "predictions.npz") as z:
        assert (z["scores"].argmax(1) == z["y_pred"]).all()
        assert z["label_order_relabelled"].tolist() == result["extra"]["relabel_order"]
    for name in ("per_class_recall.png", "samples.png", "curves.png"):
        assert (run / name).exists(), name
    results = tmp_path / "results"
    again = run_py("--dataset", "mnist", "--budget", "smoke", "--out", str(tmp_path), "--data-root", data_root,
                   "--publish", str(results), "--allow-dirty")
    assert again.returncode == 0 and "finished earlier" in again.stdout, again.stderr[-2000:]
    published = results / "gamo" / run.name
    assert (published / "metrics.jsonl").exists()
    assert json.loads((published / "result.json").read_text())["metrics"] == result["metrics"]


def test_interrupted_cli_run_resumes(tmp_path, data_root):
    _needs_mnist()
    args = ["--dataset", "mnist", "--budget", "smoke", "--out", str(tmp_path), "--data-root", data_root,
            "--no-progress", "--model", "baseline", "--max-step", "30", "--eval-every", "10", "--save-every", "10"]
    first = run_py(*args, "--stop-after", "10")
    assert first.returncode == 3, first.stderr[-2000:]
    assert first.stderr.strip().splitlines()[-1] == \
        "stopped after iteration 10 (checkpoint saved); re-run the same command to resume from the last checkpoint"
    run = tmp_path / "gamo" / records.run_name("mnist", "gamo", 0, 0, "smoke", variant="baseline")
    assert not (run / "result.json").exists()
    second = run_py(*args)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "resumed from state_000010.npz" in second.stdout + second.stderr
    assert [r["step"] for r in _evals(run, "test")] == [0, 10, 20, 30]  # nothing duplicated, nothing lost
    assert json.loads((run / "result.json").read_text())["variant"] == "baseline"


def test_sigterm_stops_at_once_with_exit_code_3_keeping_the_last_checkpoint(tmp_path, data_root):
    """A scheduler's SIGTERM ends the run like Ctrl-C: one line saying how to resume, exit code 3, no result."""
    import signal
    import time

    _needs_mnist()
    env = dict(os.environ, MPLBACKEND="Agg", TF_CPP_MIN_LOG_LEVEL="2")
    run = tmp_path / "gamo" / records.run_name("mnist", "gamo", 0, 0, "smoke", variant="baseline")
    with open(tmp_path / "stderr", "w") as log:
        proc = subprocess.Popen([sys.executable, str(ROOT / "run.py"), "--dataset", "mnist", "--budget", "smoke",
                                 "--out", str(tmp_path), "--data-root", data_root, "--no-progress", "--model",
                                 "baseline", "--max-step", "100000", "--save-every", "10", "--eval-every", "100000"],
                                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.time() + 600
        while not list((run / "checkpoints").glob("state_*.npz")) and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    err = (tmp_path / "stderr").read_text()
    assert proc.returncode == 3, err[-2000:]
    assert err.strip().splitlines()[-1] == "stopped; re-run the same command to resume from the last checkpoint"
    assert "Traceback" not in err and not (run / "result.json").exists()
    assert list((run / "checkpoints").glob("state_*.npz"))


def test_seeds_make_one_run_folder_each(tmp_path, data_root):
    _needs_mnist()
    p = run_py("--dataset", "mnist", "--budget", "smoke", "--out", str(tmp_path), "--data-root", data_root,
               "--no-progress", "--model", "baseline", "--max-step", "2", "--eval-every", "2", "--save-every", "2",
               "--seeds", "0,1")
    assert p.returncode == 0, p.stderr[-2000:]
    for seed in (0, 1):
        run = tmp_path / "gamo" / records.run_name("mnist", "gamo", 0, seed, "smoke", variant="baseline")
        result = json.loads((run / "result.json").read_text())
        assert result["seed"] == seed and result["config"]["seed"] == seed
    with np.load(tmp_path / "gamo" / records.run_name("mnist", "gamo", 0, 0, "smoke", variant="baseline")
                 / "predictions.npz") as a, \
            np.load(tmp_path / "gamo" / records.run_name("mnist", "gamo", 0, 1, "smoke", variant="baseline")
                    / "predictions.npz") as b:
        assert not np.array_equal(a["train_shuffle"], b["train_shuffle"])  # each run its own seed
    assert "baseline: ACSA over 2 runs" in p.stdout


def test_bad_input_is_a_one_line_error(tmp_path, data_root):
    p = run_py("--dataset", "mnist", "--budget", "smoke", "--max-step", "7", "--out", str(tmp_path))
    last = p.stderr.strip().splitlines()[-1]
    assert p.returncode == 2 and last.startswith("error:") and "multiple of 2" in last
    p = run_py("--dataset", "mnist", "--no-fashion-transpose", "--out", str(tmp_path))
    assert p.returncode == 2 and "Fashion-MNIST only" in p.stderr.strip().splitlines()[-1]
    # a corrupt checkpoint stops the run with one line that names the file
    _needs_mnist()
    ck = tmp_path / "gamo" / records.run_name("mnist", "gamo", 0, 0, "smoke", variant="baseline") / "checkpoints"
    ck.mkdir(parents=True)
    (ck / "state_000010.npz").write_bytes(b"not a checkpoint")
    p = run_py("--dataset", "mnist", "--budget", "smoke", "--model", "baseline", "--out", str(tmp_path),
               "--data-root", data_root, "--no-progress")
    last = p.stderr.strip().splitlines()[-1]
    assert p.returncode == 2 and last.startswith("error:") and "state_000010.npz" in last
    assert "Traceback" not in p.stderr


@pytest.mark.slow
def test_fashion_smoke_and_gamo2pix(tmp_path, data_root):
    base = ["--dataset", "fashion", "--budget", "smoke", "--out", str(tmp_path), "--data-root", data_root,
            "--no-progress"]
    p = run_py(*base)
    assert p.returncode == 0, p.stderr[-2000:]
    run = tmp_path / "gamo" / records.run_name("fashion", "gamo", 0, 0, "smoke", variant="gamo")
    records.validate_result(json.loads((run / "result.json").read_text()))
    p = run_py(*base, "--stage", "gamo2pix", "--gamo2pix-shuffle-bug")
    assert p.returncode == 0, p.stderr[-2000:]
    assert (run / "gamo2pix+gamo2pix-shuffle-bug" / "samples.png").exists()


def test_a_run_killed_after_its_first_checkpoint_resumes_bit_exact(tmp_path, data_root):
    """SIGKILL (no chance to clean up) right after the first checkpoint, then the same command: the predictions
    are those of an uninterrupted run, bit for bit."""
    import signal
    import time

    _needs_mnist()
    args = ["--dataset", "mnist", "--budget", "smoke", "--data-root", data_root, "--no-progress",
            "--max-step", "400", "--eval-every", "200", "--save-every", "20"]
    ref = run_py(*args, "--out", str(tmp_path / "ref"))
    assert ref.returncode == 0, ref.stderr[-2000:]
    env = dict(os.environ, MPLBACKEND="Agg", TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.Popen([sys.executable, str(ROOT / "run.py"), *args, "--out", str(tmp_path / "cut")], cwd=ROOT,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpts = tmp_path / "cut" / "gamo" / "mnist-gamo-gamo-split0-seed0-smoke" / "checkpoints"
    deadline = time.time() + 600
    while not list(ckpts.glob("state_*.npz")) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (ckpts.parent / "result.json").exists(), "the run finished before it could be killed"
    again = run_py(*args, "--out", str(tmp_path / "cut"))
    assert again.returncode == 0 and "resumed from state_" in again.stdout + again.stderr, again.stderr[-2000:]
    ref_dir = tmp_path / "ref" / "gamo" / "mnist-gamo-gamo-split0-seed0-smoke"
    with np.load(ref_dir / "predictions.npz") as a, np.load(ckpts.parent / "predictions.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    metrics = [json.loads((d / "result.json").read_text())["metrics"] for d in (ref_dir, ckpts.parent)]
    assert metrics[0] == metrics[1]


def test_an_out_folder_under_a_file_is_a_one_line_error(tmp_path, data_root):
    (tmp_path / "afile").write_text("x")
    p = run_py("--dataset", "mnist", "--budget", "smoke", "--out", str(tmp_path / "afile" / "runs"), "--data-root",
               data_root, "--no-progress")
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr[-2000:]
    assert [line for line in p.stderr.splitlines() if line.startswith("error:")] == \
        [line for line in p.stderr.splitlines() if "afile" in line], p.stderr


@pytest.mark.parametrize("tag", ["/../../../../escaped", "../escaped", "a/b", "..", ".", ""])
def test_a_tag_that_is_not_a_plain_name_is_refused_before_anything_is_written(tmp_path, data_root, tag):
    out = tmp_path / "a" / "b" / "out"
    p = run_py("--dataset", "mnist", "--budget", "smoke", "--out", str(out), "--data-root", data_root,
               "--no-progress", "--model", "baseline", "--tag", tag, timeout=600)
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert p.returncode == 2 and len(lines) == 1 and "argument --tag" in lines[0], p.stderr[-2000:]
    assert not list(tmp_path.iterdir())  # no run folder, inside --out or out of it


@pytest.mark.parametrize("flag, value", [
    ("--max-step", "0"), ("--eval-every", "-1"), ("--save-every", "0"), ("--gamo2pix-steps", "0"),
    ("--stop-after", "0"), ("--stop-after", "-5"), ("--seed", str(2 ** 32)), ("--split-seed", str(2 ** 32)),
    ("--ir", "nan"), ("--ir", "inf"), ("--seeds", "0,0"), ("--split-seeds", "x"), ("--stage", "gamo3pix"),
])
def test_counts_seeds_and_numbers_are_checked_when_parsed(flag, value, capsys):
    import run
    from shared_data import skeleton

    with pytest.raises(SystemExit) as exc:
        skeleton.build_parser(run.METHOD).parse_args(["--dataset", "mnist", f"{flag}={value}"])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith(f"error: argument {flag}") and value in err, err


def test_a_truncated_checkpoint_is_a_one_line_error_that_names_it(tmp_path, data_root):
    _needs_mnist()
    args = ["--dataset", "mnist", "--budget", "smoke", "--out", str(tmp_path), "--data-root", data_root,
            "--no-progress", "--model", "baseline", "--max-step", "30", "--eval-every", "10", "--save-every", "10"]
    first = run_py(*args, "--stop-after", "10")
    assert first.returncode == 3, first.stderr[-2000:]
    (ckpt,) = (tmp_path / "gamo").glob("*/checkpoints/state_*.npz")
    with open(ckpt, "r+b") as f:
        f.truncate(ckpt.stat().st_size // 2)
    p = run_py(*args)
    last = p.stderr.strip().splitlines()[-1]
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr[-2000:]
    assert last.startswith("error: ") and str(ckpt) in last and "delete it" in last, last
