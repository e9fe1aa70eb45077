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


def _env(where):
    return dict(os.environ, SHARED_DATA_MIRROR=str(where.mirror), OMP_NUM_THREADS="1",
                PYTHONPATH=os.pathsep.join([str(ROOT.parent / "shared_data"), os.environ.get("PYTHONPATH", "")]))


def _cmd(args, tmp, where):
    return [sys.executable, str(ROOT / "run.py"), "--budget", "smoke", "--out", str(tmp / "runs"),
            "--data-root", str(where.data), "--no-progress", "--threads", "1"] + args


def _run(args, tmp, where, check=True, **kwargs):
    p = subprocess.run(_cmd(args, tmp, where), capture_output=True, text=True, env=_env(where), cwd=ROOT, timeout=900,
                       **kwargs)
    if check and p.returncode != 0:
        raise AssertionError(f"exit {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


@pytest.fixture(scope="module")
def smoke(tmp_path_factory, where):
    """One MNIST smoke run, stage by stage (each stage resumes from the previous one's files); the GAN stage is
    first stopped by --stop-after 1 (of its 2 epochs), and what that stop left is kept for the test of it."""
    tmp = tmp_path_factory.mktemp("imsic")
    stopped = _run(["--dataset", "mnist", "--stage", "gan", "--stop-after", "1"], tmp, where, check=False)
    (ckpts,) = (tmp / "runs" / "imsic").glob("*/checkpoints")
    stopped.checkpoints = sorted(f.name for f in ckpts.iterdir())
    for stage in ("gan", "map", "synth", "cnn"):
        _run(["--dataset", "mnist", "--stage", stage], tmp, where)
    (run,) = (tmp / "runs" / "imsic").iterdir()
    return tmp, run, stopped


def test_smoke_run_writes_a_valid_result(smoke):
    _, run, _ = smoke
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


def test_stop_after_stops_at_the_first_checkpoint_past_it_and_the_same_stage_resumes(smoke):
    """--stop-after 1 stops the GAN stage after its first epoch (exit code 3, one line with the resume hint), with
    the epoch's resume point written and no final GAN; the fixture's next --stage gan resumed from it, and the
    log holds each GAN epoch once."""
    _, run, stopped = smoke
    assert stopped.returncode == 3, (stopped.stdout, stopped.stderr)
    lines = [x for x in stopped.stderr.splitlines() if x.strip()]
    assert lines == ["stopped after GAN epoch 1 of 2 (--stop-after 1); re-run the same command to resume from the "
                     "last checkpoint"], stopped.stderr
    assert "gan_last.pt" in stopped.checkpoints and "gan_epoch_1.pt" in stopped.checkpoints
    assert "gan_final.pt" not in stopped.checkpoints and "gan_epoch_2.pt" not in stopped.checkpoints
    log = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [x["epoch"] for x in log if x.get("stage") == "gan"] == [1, 2]


def test_rerun_reports_without_training(smoke, where):
    tmp, run, _ = smoke
    before = (run / "result.json").read_bytes()
    p = _run(["--dataset", "mnist"], tmp, where)
    assert "[imsic] epoch 2" in p.stdout and "(finished earlier)" in p.stdout
    assert (run / "result.json").read_bytes() == before


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
    # a stage before the CNN makes no result: nothing to publish
    _one_error_line(_run(["--dataset", "mnist", "--stage", "gan", "--publish", str(tmp_path / "results")], tmp_path,
                         where, check=False), "--stage gan makes no result to publish")
    _one_error_line(_run(["--dataset", "mnist", "--seeds", "1", "--split-seeds", "2"], tmp_path, where,
                         check=False), "drop --split-seeds")
    assert not (tmp_path / "runs").exists() and not (tmp_path / "results").exists()


def test_configs_resolve_through_the_shared_resolver_and_refuse_unknown_keys():
    """configs/<dataset>.py hold CONFIG (the full budget) and BUDGETS (the keys quick and smoke change); every
    budget resolves, a misspelt override or budget key is refused with the closest name, and the flags' values
    land in the config a run saves."""
    import types

    import configs.fashion
    import configs.mnist
    import run
    from shared_data import config, errors

    for module in (configs.mnist, configs.fashion):
        full = config.resolve(module, "full")
        assert full["gan_epochs"] == 500 and full["budget"] == "full"
        assert config.resolve(module, "quick")["gan_epochs"] == 8
        smoke = config.resolve(module, "smoke")
        assert (smoke["gan_epochs"], smoke["cnn_epochs"], smoke["test_per_class"]) == (2, 2, 50)
        assert set(smoke) == set(full)  # a budget changes values, never adds keys
        with pytest.raises(errors.ConfigError, match="'lamda_con'.*did you mean 'lambda_con'"):
            config.resolve(module, "smoke", {"lamda_con": 0.2})
    assert config.resolve(configs.fashion, "full")["cnn_epochs"] == 25
    own = {"dataset", "code_dim", "cnn_epochs", "gen_z_std", "gen_code", "gen_code_factor", "hardcoded_map"}
    shared = {k: v for k, v in configs.mnist.CONFIG.items() if k not in own}
    assert shared == {k: v for k, v in configs.fashion.CONFIG.items() if k not in own}  # Fashion builds on MNIST
    assert configs.mnist.BUDGETS == configs.fashion.BUDGETS
    assert config.resolve(configs.mnist, "full")["cnn_epochs"] == 8
    bad = types.SimpleNamespace(__name__="configs.mnist", CONFIG=configs.mnist.CONFIG,
                                BUDGETS={"smoke": {"gan_epoch": 1}})
    with pytest.raises(errors.ConfigError, match="BUDGETS\\['smoke'\\].*'gan_epoch'.*did you mean 'gan_epochs'"):
        config.resolve(bad, "smoke")
    cfg = run.configure(run.parse_args(["--dataset", "fashion", "--budget", "quick", "--lambda-con", "0.3"]))
    assert (cfg["lambda_con"], cfg["code_dim"], cfg["gan_epochs"], cfg["budget"]) == (0.3, 3, 8, "quick")
    assert cfg["edges_clip"] is True and len(cfg["forced_deviations"]) == 2
    with pytest.raises(errors.ConfigError, match="lambda_con must be >= 0"):
        run.configure(run.parse_args(["--dataset", "mnist", "--lambda-con", "-1"]))


def test_missing_and_corrupt_checkpoint(smoke, where, tmp_path):
    _, run, _ = smoke
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


@pytest.mark.parametrize("flag, value", [
    ("--lambda-con", "nan"), ("--lambda-con", "inf"), ("--bn-eps", "nan"), ("--bn-eps", "-inf"), ("--code-dim", "0"),
    ("--threads", "0"), ("--threads", "-1"), ("--seed", str(2 ** 32)), ("--split-seed", str(2 ** 32)),
    ("--ir", "nan"),
])
def test_numbers_counts_and_seeds_are_checked_when_parsed(flag, value, capsys):
    import run

    with pytest.raises(SystemExit) as exc:
        run.parse_args([f"{flag}={value}"])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith(f"error: argument {flag}") and value in err, err


def test_a_seed_list_beyond_32_bits_is_one_line_and_writes_nothing(tmp_path, where):
    _one_error_line(_run(["--dataset", "mnist", "--seeds", f"1,{2 ** 32}"], tmp_path, where, check=False), "--seeds")
    assert not (tmp_path / "runs").exists()


def test_sigterm_stops_like_ctrl_c_with_the_resume_hint(tmp_path, where):
    import signal
    import time

    proc = subprocess.Popen(_cmd(["--dataset", "mnist"], tmp_path, where), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env(where), cwd=ROOT)
    deadline = time.time() + 600
    while not list((tmp_path / "runs").glob("imsic/*/checkpoints/gan_epoch_1.pt")) and proc.poll() is None \
            and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=600)
    if proc.returncode == 0:  # every stage ended before the signal arrived: nothing to test
        pytest.skip("the run ended before SIGTERM arrived")
    lines = [x for x in err.splitlines() if x.strip()]
    assert proc.returncode == 3 and "Traceback" not in err, err
    assert lines[-1] == "stopped; re-run the same command to resume from the last checkpoint", err
    (ckpts,) = (tmp_path / "runs" / "imsic").glob("*/checkpoints")
    assert (ckpts / "gan_epoch_1.pt").exists() and not list(ckpts.glob(".*.tmp"))


def test_a_checkpoint_write_that_hits_the_file_size_limit_is_one_line(smoke, where, tmp_path):
    """The write of gan_final.pt fails (EFBIG, as on a full disk): one line naming the run folder and what to do;
    the checkpoint before it is intact and no temporary file is left."""
    import resource
    import signal

    _, run, _ = smoke
    copy = tmp_path / "runs" / "imsic" / run.name
    shutil.copytree(run, copy)
    (copy / "checkpoints" / "gan_final.pt").unlink()
    last = copy / "checkpoints" / "gan_last.pt"
    before = last.read_bytes()
    limit = len(before) // 2  # gan_final.pt is as large as gan_last.pt

    def small_files():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead of killing the process
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    p = _run(["--dataset", "mnist", "--stage", "gan"], tmp_path, where, check=False, preexec_fn=small_files)
    _one_error_line(p, str(copy), "File too large", "re-run the same command to resume")
    assert "Traceback" not in p.stderr
    assert last.read_bytes() == before and not (copy / "checkpoints" / "gan_final.pt").exists()
    assert not [f.name for f in (copy / "checkpoints").iterdir() if f.name.startswith(".")]


class _Payload:
    """Unpickling it runs ``open(marker, "w")``: the file exists once pickled code has run."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_checkpoints_and_arrays_holding_a_pickle_are_refused_without_running_it(tmp_path):
    import numpy as np
    import torch

    from imsic import io

    marker = tmp_path / "pickle-ran"
    torch.save({"generator": _Payload(marker)}, tmp_path / "gan_final.pt")
    with pytest.raises(io.StageError, match="gan_final.pt: unreadable trained GAN"):
        io.load_torch(tmp_path / "gan_final.pt", "trained GAN", "run --stage gan")
    np.savez(tmp_path / "synth.npz", x=np.array([_Payload(marker)], dtype=object), y=np.zeros(1))
    with pytest.raises(io.StageError, match="synth.npz: unreadable synthetic images"):
        io.load_npz(tmp_path / "synth.npz", "synthetic images", "run --stage synth", keys=("x", "y"))
    assert not marker.exists()
