"""``run.py --budget smoke`` on real MNIST, the DGC-specific checks: the training log holds pretraining, every
epoch and every scheduled evaluation of both prediction rules; the last evaluation is reported; a finished run
only reports (and publishes); a run killed with SIGKILL after its first checkpoint, then stopped by SIGTERM in
the middle of an epoch (exit code 3), and re-run ends with the same predictions, bit for bit, as an uninterrupted
run; ``--stop-after`` stops at an epoch's checkpoint (exit code 3); old
checkpoints are deleted whichever attempt wrote them; bad input and unusable paths fail in one line and leave no
run folder. The run folder's general contract is checked by the repository's own test."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from shared_data import quiet, records, skeleton

ROOT = Path(__file__).resolve().parents[1]
COMMON = ("--dataset", "mnist", "--budget", "smoke")


def env():
    e = dict(os.environ)
    e.setdefault("SHARED_DATA_MIRROR", str(ROOT.parent.parent / "shared" / "data"))
    e.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    e["PYTHONUNBUFFERED"] = "1"
    return e


@pytest.fixture(scope="session")
def data_root(tmp_path_factory):
    return tmp_path_factory.mktemp("data")


def run_py(*args, timeout=900):
    return subprocess.run([sys.executable, str(ROOT / "run.py"), "--no-progress", *args], cwd=ROOT, env=env(),
                          capture_output=True, text=True, timeout=timeout)


def start_py(log: Path, *args) -> subprocess.Popen:
    with open(log, "w") as f:
        return subprocess.Popen([sys.executable, str(ROOT / "run.py"), "--no-progress", *args], cwd=ROOT,
                                env=env(), stdout=f, stderr=subprocess.STDOUT, text=True)


def wait_for(condition, proc: subprocess.Popen, what: str, timeout: float = 900.0) -> None:
    t0 = time.time()
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended (rc {proc.returncode}) before {what}")
        if time.time() - t0 > timeout:
            proc.kill()
            raise AssertionError(f"no {what} within {timeout:.0f} s")
        time.sleep(0.05)


def the_run(out: Path) -> Path:
    (path,) = (out / "dgc").iterdir()
    return path


def state_of(run: Path) -> dict | None:
    try:
        return json.loads((run / "checkpoints" / "state.json").read_text())
    except (OSError, ValueError):
        return None


def checkpoints(run: Path) -> list[str]:
    return sorted(p.name[:-len(".index")] for p in (run / "checkpoints").glob("*.index"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory, data_root):
    """One uninterrupted smoke run."""
    out = tmp_path_factory.mktemp("reference") / "runs"
    p = run_py(*COMMON, "--out", str(out), "--data-root", str(data_root))
    assert p.returncode == 0, p.stderr[-3000:]
    assert "resumed" not in p.stdout
    if not quiet.gpu_present() and not quiet.verbose():  # a CPU run starts without TensorFlow's notices
        noise = [line for line in p.stderr.splitlines() if quiet.NOISE.search(line) or "WARNING:tensorflow" in line]
        assert not noise, noise
    return the_run(out)


def test_smoke_run_report(reference, tmp_path, data_root):
    run = reference
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
    assert checkpoints(run) == ["dgc-1", "dgc-2"]  # keep_checkpoints = 2: dgc-0 (after pretraining) is gone
    assert oct((run / "result.json").stat().st_mode & 0o777) == oct(0o666 & ~_umask())

    # finished: report and publish, do not train, do not rewrite the result
    before = (run / "result.json").read_bytes()
    p = run_py(*COMMON, "--out", str(run.parents[1]), "--data-root", str(data_root), "--publish",
               str(tmp_path / "results"), "--allow-dirty")
    assert p.returncode == 0 and "(finished earlier)" in p.stdout and "resumed" not in p.stdout, p.stderr[-3000:]
    assert "pretraining" not in p.stdout and (run / "result.json").read_bytes() == before
    published = list((tmp_path / "results" / "dgc").glob("*/result.json"))
    assert len(published) == 1 and json.loads(published[0].read_text())["split_hash"] == result["split_hash"]
    assert (published[0].parent / "metrics.jsonl").exists()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_kill_and_resume_is_bit_exact(reference, tmp_path, data_root):
    """SIGKILL right after the first checkpoint; the re-run is stopped by SIGTERM as soon as it has resumed (it
    checkpoints at the next step boundary, usually inside epoch 1, and prints the resume hint); the third call
    finishes. Its predictions equal the uninterrupted run's bit for bit, and its metrics. Where the stop lands
    depends on the machine's speed, so the checkpoint is checked for consistency, not for one position."""
    out = tmp_path / "runs"
    args = (*COMMON, "--out", str(out), "--data-root", str(data_root))

    proc = start_py(tmp_path / "1.log", *args)
    wait_for(lambda: (out / "dgc").is_dir() and state_of(the_run(out)) is not None, proc, "the first checkpoint")
    proc.send_signal(signal.SIGKILL)
    proc.wait(60)
    run = the_run(out)
    assert state_of(run)["epochs_done"] == 0 and not (run / "result.json").exists()

    log2 = tmp_path / "2.log"
    proc = start_py(log2, *args)
    wait_for(lambda: "resumed from dgc-0 (0 epochs done)" in log2.read_text(), proc, "the resume")
    proc.send_signal(signal.SIGTERM)  # usually during the first training steps of epoch 1
    assert proc.wait(600) == skeleton.EXIT_STOPPED == 3, log2.read_text()[-3000:]
    text = log2.read_text()
    assert "re-run the same command to resume" in text and "Traceback" not in text, text[-3000:]
    state = state_of(run)
    done, step = state["epochs_done"], state["step"]
    name = f"dgc-{done}" + (f"-{step}" if step else "")
    assert done in (0, 1) and 0 <= step <= 2 and state["checkpoint"] == name, state
    assert not (run / "result.json").exists()

    p = run_py(*args)
    assert p.returncode == 0, p.stderr[-3000:]
    at = f", {step} steps of epoch {done + 1}" if step else ""
    assert f"resumed from {name} ({done} epochs done{at})" in p.stdout

    with np.load(reference / "predictions.npz") as a, np.load(run / "predictions.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for k in a.files:
            assert a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]), k  # bit for bit
    ra, rb = records.validate_run_dir(reference), records.validate_run_dir(run)
    assert ra["metrics"] == rb["metrics"] and ra["extra"]["discriminative"] == rb["extra"]["discriminative"]
    # the training log of the resumed run is the uninterrupted one's, record for record (times aside)
    strip = lambda r: {k: v for k, v in r.items() if k not in ("time_s", "eval_time_s", "images_per_s")}  # noqa
    la = [strip(json.loads(x)) for x in (reference / "metrics.jsonl").read_text().splitlines()]
    lb = [strip(json.loads(x)) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert la == lb
    # keep_checkpoints = 2 across the three attempts: dgc-0 and dgc-0-<step> of the earlier ones are gone
    assert checkpoints(run) == ["dgc-1", "dgc-2"]
    assert not [p.name for p in run.rglob("*") if p.name.startswith(".") or "tempstate" in p.name]


def test_keeper_removes_checkpoints_of_every_attempt(tmp_path):
    """Old checkpoints beyond keep_checkpoints go, whichever attempt wrote them; a newer one that a killed attempt
    wrote before its state.json is removed too; the one state.json names is kept."""
    from dgc import train

    ck = tmp_path / "checkpoints"
    ck.mkdir()
    for name in ("dgc-0", "dgc-1", "dgc-1-3", "dgc-2", "dgc-3"):
        for suffix in (".index", ".data-00000-of-00001"):
            (ck / (name + suffix)).write_bytes(b"x")
    (ck / "state.json").write_text("{}")
    trainer = SimpleNamespace(ckpt_dir=ck, cfg={"keep_checkpoints": 2}, state={"checkpoint": "dgc-2"})
    train.Trainer.prune_checkpoints(trainer)
    assert sorted(p.name for p in ck.iterdir()) == ["dgc-1-3.data-00000-of-00001", "dgc-1-3.index",
                                                     "dgc-2.data-00000-of-00001", "dgc-2.index", "state.json"]
    trainer.cfg["keep_checkpoints"] = 1
    train.Trainer.prune_checkpoints(trainer)
    assert sorted(p.name for p in ck.iterdir()) == ["dgc-2.data-00000-of-00001", "dgc-2.index", "state.json"]


def one_line_error(p) -> str:
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), (p.returncode, p.stderr)
    return lines[0]


def test_bad_input_one_line(tmp_path, data_root):
    out = tmp_path / "runs"
    p = run_py("--dataset", "cifar10", "--budget", "smoke", "--out", str(out))
    assert p.returncode == 2 and "cifar10" in p.stderr
    p = run_py("--budget", "smoke", "--seed", "-1", "--out", str(out), "--data-root", str(data_root))
    assert p.returncode == 2 and "--seed" in p.stderr and "non-negative" in p.stderr
    # a bad value, a split that leaves a class empty: one line, and no run folder
    line = one_line_error(run_py("--budget", "smoke", "--epochs", "0", "--out", str(out), "--data-root",
                                 str(data_root)))
    assert line.startswith("error: argument --epochs: ") and "positive integer" in line
    line = one_line_error(run_py("--budget", "smoke", "--protocol", "exp", "--ir", "1e9", "--out", str(out),
                                 "--data-root", str(data_root)))
    assert "empty" in line
    assert not out.exists()
    # the same run name with another config is refused, nothing is overwritten
    run = out / "dgc" / records.run_name("mnist", "dgc", 1, 0, "smoke", variant="dgc")
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"dataset": "mnist", "lr": 1.0}))
    line = one_line_error(run_py("--budget", "smoke", "--out", str(out), "--data-root", str(data_root)))
    assert "another config" in line
    assert json.loads((run / "config.json").read_text()) == {"dataset": "mnist", "lr": 1.0}


@pytest.mark.parametrize("flag, value", [
    ("--lr", "nan"), ("--lr", "inf"), ("--lambda", "nan"), ("--aug-rate", "-inf"), ("--epochs", "-1"),
    ("--zdim", "0"), ("--sampling-size", "0"), ("--test-subset", "0"), ("--batch-size", "0"),
    ("--stop-after", "0"), ("--seed", str(2 ** 32)), ("--split-seed", str(2 ** 32)), ("--ir", "nan"),
])
def test_numbers_counts_and_seeds_are_checked_when_parsed(flag, value, capsys):
    import run

    with pytest.raises(SystemExit) as exc:
        skeleton.build_parser(run.METHOD).parse_args([f"{flag}={value}"])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith(f"error: argument {flag}") and value in err, err


@pytest.mark.parametrize("flag, value", [("--lr", "nan"), ("--seed", str(2 ** 32)), ("--split-seed", str(2 ** 63))])
def test_a_refused_value_leaves_no_run_folder(tmp_path, data_root, flag, value):
    out = tmp_path / "runs"
    line = one_line_error(run_py(*COMMON, flag, value, "--out", str(out), "--data-root", str(data_root)))
    assert line.startswith(f"error: argument {flag}")
    assert not out.exists()


def test_a_truncated_checkpoint_is_a_one_line_error_that_names_it(tmp_path, data_root):
    out = tmp_path / "runs"
    args = (*COMMON, "--out", str(out), "--data-root", str(data_root))
    p = run_py(*args, "--stop-after", "1")
    assert p.returncode == 3 and "epoch 2" not in p.stdout, (p.stdout[-3000:], p.stderr[-3000:])
    assert p.stderr.strip().splitlines()[-1] == ("stopped at the checkpoint of epoch 1 (--stop-after 1); re-run the "
                                                 "same command to resume from the last checkpoint"), p.stderr
    run = the_run(out)
    assert state_of(run)["epochs_done"] == 1 and state_of(run)["step"] == 0 and not (run / "result.json").exists()
    data = run / "checkpoints" / f"{state_of(run)['checkpoint']}.data-00000-of-00001"
    with open(data, "r+b") as f:
        f.truncate(data.stat().st_size // 2)
    p = run_py(*args)
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr[-3000:]
    last = p.stderr.strip().splitlines()[-1]
    assert last.startswith("error: cannot restore checkpoint") and str(data)[:-len(".data-00000-of-00001")] in last
    assert f"delete {run}" in last, last
    assert not (run / "result.json").exists()


def test_predictions_holding_a_pickle_are_refused_without_running_it(tmp_path):
    from dgc import train

    marker = tmp_path / "pickle-ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    run = records.RunDir(tmp_path / "run")
    path = train.prediction_path(run, 2)
    path.parent.mkdir(parents=True)
    np.savez(path, y_true=np.array([Payload()], dtype=object))
    with pytest.raises(ValueError, match="allow_pickle"):
        train.read_predictions(run, 2)
    assert not marker.exists()


def test_unusable_paths_one_line(tmp_path, data_root):
    afile = tmp_path / "a-file"
    afile.write_text("")
    line = one_line_error(run_py(*COMMON, "--out", str(afile / "runs"), "--data-root", str(data_root)))
    assert str(afile) in line and "not a folder" in line and "--out" in line
    line = one_line_error(run_py(*COMMON, "--out", str(tmp_path / "runs"), "--data-root", str(afile / "data")))
    assert str(afile) in line
    assert not (tmp_path / "runs").exists()
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders: the not-writable cases need another user")
    ro = tmp_path / "read-only"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        line = one_line_error(run_py(*COMMON, "--out", str(ro / "runs"), "--data-root", str(data_root)))
        assert str(ro) in line and "not writable" in line
        line = one_line_error(run_py(*COMMON, "--out", str(tmp_path / "runs"), "--data-root", str(ro / "data")))
        assert str(ro) in line
        assert not (tmp_path / "runs").exists()
    finally:
        ro.chmod(0o755)
