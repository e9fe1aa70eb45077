"""run.py end to end at the smoke budget, stage by stage, and its answers to bad input."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from shared_data import records

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def where(mirror, tmp_path_factory):
    """The data mirror and one data root for the module's runs: each split is drawn and written once, not once
    per test (a split folder is read back as is once its content hash checks)."""
    return SimpleNamespace(mirror=mirror, data=tmp_path_factory.mktemp("data"))


def _run(args, tmp, where, check=True):
    env = dict(os.environ, SHARED_DATA_MIRROR=str(where.mirror), OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(ROOT.parent / "shared_data"), os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, str(ROOT / "run.py"), "--budget", "smoke", "--out", str(tmp / "runs"),
           "--data-root", str(where.data), "--no-progress", "--threads", "1"] + args
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=900)
    if check and p.returncode != 0:
        raise AssertionError(f"exit {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


@pytest.fixture(scope="module")
def smoke(tmp_path_factory, where):
    """One MNIST smoke run, stage by stage (each stage resumes from the previous one's files)."""
    tmp = tmp_path_factory.mktemp("imsic")
    for stage in ("gan", "map", "synth", "cnn"):
        _run(["--dataset", "mnist", "--stage", stage], tmp, where)
    (run,) = (tmp / "runs" / "imsic").iterdir()
    return tmp, run


def test_smoke_run_writes_a_valid_result(smoke):
    _, run = smoke
    result = records.validate_run_dir(run) if hasattr(records, "validate_run_dir") else \
        records.validate_result(json.loads((run / "result.json").read_text()))
    r = json.loads((run / "result.json").read_text())
    assert r["method"] == "imsic" and r["variant"] == "imsic" and r["faithful"] is True and r["fixes"] == {}
    assert r["paper_method"] == "IMSIC" and r["budget"] == "smoke" and r["eval_subset"] == 50
    assert r["protocol"] == "imsic" and r["train_counts"] == [4000, 2000, 1000, 750, 500, 350, 200, 100, 60, 40]
    assert r["extra"]["reported_epoch"] == 2 and r["extra"]["gan_iterations"] == 4
    assert r["framework"].startswith("torch ") and r["device"].startswith(("cpu: ", "gpu: "))
    cmap = json.loads((run / "category_map.json").read_text())
    assert sorted(cmap["class_to_code"]) == list(range(10))
    for f in ("samples/static/0.png", "samples/varying_c4/0.png", "checkpoints/gan_final.pt", "synth.npz",
              "predictions.npz", "classification_report.txt"):
        assert (run / f).exists(), f
    log = records.read_metrics(run) if hasattr(records, "read_metrics") else \
        [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    gan = [x for x in log if x.get("stage") == "gan"]
    assert [x["epoch"] for x in gan] == [1, 2] and all("hinge_open_batches" in x for x in gan)
    assert [x["epoch"] for x in log if x["kind"] == "eval"] == [2]
    assert result is not None


def test_rerun_reports_without_training(smoke, where):
    tmp, run = smoke
    before = (run / "result.json").read_bytes()
    p = _run(["--dataset", "mnist"], tmp, where)
    assert "epoch 2" in p.stdout and (run / "result.json").read_bytes() == before


def _one_error_line(p, *needles):
    assert p.returncode == 2, (p.stdout, p.stderr)
    lines = [x for x in p.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, p.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def test_stage_before_its_predecessor(tmp_path, where):
    p = _run(["--dataset", "mnist", "--stage", "synth"], tmp_path, where, check=False)
    _one_error_line(p, "gan_final.pt is missing", "--stage gan")
    assert not (tmp_path / "runs" / "imsic").exists()  # nothing half-written
    p = _run(["--dataset", "fashion", "--stage", "cnn", "--seed", "3"], tmp_path, where, check=False)
    _one_error_line(p, "synth.npz is missing", "--stage synth")


def test_unknown_dataset_and_bad_flags(tmp_path, where):
    _one_error_line(_run(["--dataset", "cifar10"], tmp_path, where, check=False), "cifar10")
    _one_error_line(_run(["--dataset", "nope"], tmp_path, where, check=False), "nope")
    _one_error_line(_run(["--dataset", "mnist", "--model", "baseline", "--stage", "gan"], tmp_path, where,
                         check=False), "baseline has no gan stage")
    assert not (tmp_path / "runs").exists()


def test_missing_and_corrupt_checkpoint(smoke, where, tmp_path):
    _, run = smoke
    copy = tmp_path / "runs" / "imsic" / run.name
    shutil.copytree(run, copy)
    (copy / "checkpoints" / "gan_final.pt").write_bytes(b"not a checkpoint")
    for f in ("category_map.json", "synth.npz", "result.json", "predictions.npz"):
        (copy / f).unlink()
    p = _run(["--dataset", "mnist", "--stage", "map"], tmp_path, where, check=False)
    _one_error_line(p, "gan_final.pt: unreadable trained GAN", "delete it")
    assert not (copy / "category_map.json").exists()
    (copy / "checkpoints" / "gan_final.pt").unlink()
    p = _run(["--dataset", "mnist", "--stage", "map"], tmp_path, where, check=False)
    _one_error_line(p, "gan_final.pt is missing", "--stage gan")


def test_baseline_and_a_fix_variant(tmp_path, where):
    p = _run(["--dataset", "fashion", "--model", "baseline", "--eval-final-epoch"], tmp_path, where)
    (run,) = (tmp_path / "runs" / "imsic").iterdir()
    r = json.loads((run / "result.json").read_text())
    assert r["variant"] == "baseline+eval-final-epoch" and r["faithful"] is False and r["paper_method"] is None
    assert r["fixes"] == {"eval_final_epoch": True} and "baseline" in p.stdout


def test_an_out_folder_under_a_file_is_a_one_line_error(tmp_path, where):
    (tmp_path / "afile").write_text("x")
    p = _run(["--dataset", "mnist", "--out", str(tmp_path / "afile" / "runs")], tmp_path, where, check=False)
    errors = [line for line in p.stderr.splitlines() if line.strip()]
    assert p.returncode == 2 and len(errors) == 1 and "afile" in errors[0], p.stderr
