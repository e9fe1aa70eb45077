"""Smoke runs on real MNIST for what is CaLeG's own (the phases and refits in metrics.jsonl, logits beside the
probabilities, the smoke budget's test cut), exact resume after a stop, a SIGKILL and a SIGTERM, bad input and
file-system errors. That a smoke run's folder and result.json meet the shared contract is the repository's
contract test (tests/test_contract.py)."""
import json
import os
import signal
import subprocess
import sys
import time
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


SMOKE = ["--dataset", "mnist", "--budget", "smoke", "--no-progress"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, data_root):
    """One faithful smoke run from start to end, the reference of the resume tests."""
    import run as run_py

    out = tmp_path_factory.mktemp("uninterrupted")
    assert run_py.main(SMOKE + ["--out", str(out), "--data-root", data_root]) == 0
    return only_run(out)


def assert_same_run(resumed: Path, reference: Path):
    """Bit for bit the same predictions (labels, probabilities, logits), result metrics, per-epoch logits and
    test evaluations; the same training-log lines, the discriminator's losses within float32 rounding (README,
    "How deterministic a run is")."""
    with np.load(resumed / "predictions.npz") as a, np.load(reference / "predictions.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for k in a.files:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    ra, rb = (json.loads((p / "result.json").read_text()) for p in (resumed, reference))
    assert ra["metrics"] == rb["metrics"]
    assert read_log(resumed)[1] == read_log(reference)[1]  # evaluation lines
    timing = {"epoch_time_s", "s_per_step", "train_images_per_s"}
    ta, tb = ([{k: v for k, v in r.items() if k not in timing} for r in read_log(p)[0]] for p in (resumed, reference))
    assert [sorted(r) for r in ta] == [sorted(r) for r in tb]
    for a, b in zip(ta, tb):
        assert {k: v for k, v in a.items() if not k.startswith("loss_")} == \
            {k: v for k, v in b.items() if not k.startswith("loss_")}
        assert {k: pytest.approx(v, rel=1e-6) for k, v in a.items() if k.startswith("loss_")} == \
            {k: v for k, v in b.items() if k.startswith("loss_")}
    for e in range(2):
        with np.load(resumed / "epochs" / f"epoch{e:03d}.npz") as a, \
                np.load(reference / "epochs" / f"epoch{e:03d}.npz") as b:
            np.testing.assert_array_equal(a["logits"], b["logits"])


def start_and_wait_for_checkpoint(out: Path, data_root: str, extra=()):
    """Start a smoke run in a child process; return it once its first epoch checkpoint is written."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, str(ROOT / "run.py"), *SMOKE, "--out", str(out), "--data-root",
                             data_root, *extra], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    state = out / "caleg" / "mnist-dgc-caleg-r1-split1-seed1-smoke" / "checkpoints" / "state.json"
    while not state.exists():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before its first checkpoint: {proc.communicate()}")
        time.sleep(0.05)
    return proc, state.parents[1]


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
def test_smoke_run_logs_both_phases_the_refit_pools_and_logits(uninterrupted):
    run = uninterrupted
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
def test_stopped_run_resumes_bit_exact_and_a_finished_run_reports(tmp_path, data_root, uninterrupted, capsys):
    import run as run_py

    args = SMOKE + ["--out", str(tmp_path), "--data-root", data_root]
    assert run_py.main(args + ["--stop-after", "1"]) == 3
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "stopped after epoch 1 of 2 as asked; re-run the same command to resume from the last checkpoint")
    run = only_run(tmp_path)
    state = json.loads((run / "checkpoints" / "state.json").read_text())
    assert state["epoch"] == 0 and state["last_fit_epoch"] == 0 and not (run / "result.json").exists()
    assert run_py.main(args) == 0
    assert "resuming" in capsys.readouterr().out
    train, evals = read_log(run)
    assert [r["epoch"] for r in train] == [0, 1] and [r["epoch"] for r in evals] == [0, 1]
    assert_same_run(run, uninterrupted)
    first = json.loads((run / "result.json").read_text())
    # finished: reports without training, and publishes (from a checkout with edits, hence --allow-dirty)
    assert run_py.main(args + ["--publish", str(tmp_path / "results"), "--allow-dirty"]) == 0
    assert "finished earlier" in capsys.readouterr().out
    published = next((tmp_path / "results" / "caleg").glob("*/result.json"))
    assert {k: v for k, v in json.loads(published.read_text()).items() if k != "published_with_allow_dirty"} == first
    assert (published.parent / "metrics.jsonl").read_text() == (run / "metrics.jsonl").read_text()
    assert json.loads((run / "result.json").read_text())["created_utc"] == first["created_utc"]


@needs_mnist
def test_sigkill_after_the_first_checkpoint_resumes_bit_exact(tmp_path, data_root, uninterrupted):
    """A real SIGKILL (no handler runs) once the first checkpoint is written, then the same command: the
    predictions equal the uninterrupted run's bit for bit. What the kill may leave is also planted: a torn
    last line of metrics.jsonl and an orphan temporary file of an atomic write."""
    import run as run_py

    proc, run = start_and_wait_for_checkpoint(tmp_path, data_root)
    proc.kill()
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL and not (run / "result.json").exists()
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"kind": "train", "epoch": 1, "lo')
    orphan = run / ".result.json.99999999.tmp"
    orphan.write_text("{")
    with pytest.warns(UserWarning, match="torn last line"):
        assert run_py.main(SMOKE + ["--out", str(tmp_path), "--data-root", data_root]) == 0
    assert not orphan.exists()
    assert_same_run(run, uninterrupted)
    # the keeper: the last two epoch checkpoints, nothing half-written
    assert sorted(p.name for p in (run / "checkpoints").glob("caleg-*.index")) == ["caleg-0.index", "caleg-1.index"]
    assert not [p for p in (run / "checkpoints").iterdir() if "_temp" in p.name]


@needs_mnist
def test_sigterm_keeps_the_checkpoint_and_prints_the_resume_hint(tmp_path, data_root):
    proc, run = start_and_wait_for_checkpoint(tmp_path, data_root)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=600)
    if proc.returncode == 0:  # the run finished before the signal arrived (a very fast machine): nothing to test
        pytest.skip("the run ended before SIGTERM arrived")
    assert proc.returncode == 3, err
    assert err.strip().splitlines()[-1] == "stopped; re-run the same command to resume from the last checkpoint"
    state = json.loads((run / "checkpoints" / "state.json").read_text())
    assert state["epoch"] == 0 and (run / "checkpoints" / (state["checkpoint"] + ".index")).exists()
    assert not (run / "result.json").exists()


def test_checkpoint_keeper_holds_across_resumes(tmp_path):
    """Only the kept epochs' checkpoint files stay, whatever an earlier attempt's saver wrote: older ones, one
    past the state a kill left, a save killed half-way (TensorFlow's temporary parts)."""
    from types import SimpleNamespace

    from caleg.train import Trainer

    ckpt = tmp_path / "checkpoints"
    ckpt.mkdir()
    for e in range(4):
        for suffix in (".index", ".data-00000-of-00001"):
            (ckpt / f"caleg-{e}{suffix}").write_text("x")
    (ckpt / "caleg-4_temp").mkdir()
    (ckpt / "caleg-4_temp" / "part-00000-of-00001.data-00000-of-00001").write_text("x")
    (ckpt / "caleg-3.data-00000-of-00001.tempstate123").write_text("x")
    for name in ("state.json", "checkpoint"):
        (ckpt / name).write_text("{}")
    trainer = Trainer.__new__(Trainer)
    trainer.run = SimpleNamespace(checkpoint_dir=ckpt)
    trainer._prune_checkpoints({2, 3})
    assert sorted(p.name for p in ckpt.iterdir()) == [
        "caleg-2.data-00000-of-00001", "caleg-2.index", "caleg-3.data-00000-of-00001", "caleg-3.index",
        "checkpoint", "state.json"]


def test_grid_runs_each_line_with_the_command_flags(tmp_path):
    import run as run_py
    from shared_data import skeleton

    grid = tmp_path / "grid.txt"
    grid.write_text("# comment\n-   # faithful\n\n--aug-rate 0\n--refit-real-only --cov-ridge 1e-3\n")
    todo = skeleton.commands(run_py.METHOD, ["--dataset", "fashion", "--budget", "quick", "--seeds", "1,2",
                                            "--grid", str(grid)])
    assert [(a.dataset, a.budget, a.seeds, a.aug_rate, a.refit_real_only, a.cov_ridge) for a, _ in todo] == [
        ("fashion", "quick", [1, 2], 1.0, False, 0.0), ("fashion", "quick", [1, 2], 0.0, False, 0.0),
        ("fashion", "quick", [1, 2], 1.0, True, 1e-3)]
    # each line's config is resolved with its own flags, and each seed s trains on the subset drawn with s
    assert [(c["dataset"], c["budget"], c["aug_rate"], c["refit_real_only"], c["cov_ridge"]) for _, c in todo] == [
        ("fashion", "quick", 1.0, False, 0.0), ("fashion", "quick", 0.0, False, 0.0),
        ("fashion", "quick", 1.0, True, 1e-3)]
    assert skeleton.pairs(run_py.METHOD, todo[0][0]) == [(1, 1), (2, 2)]
    grid.write_text("--ce-reduction median\n")
    with pytest.raises(SystemExit):  # every line is parsed before anything trains
        skeleton.commands(run_py.METHOD, ["--grid", str(grid)])


def test_bad_input_gives_one_line_errors(tmp_path):
    base = [sys.executable, str(ROOT / "run.py"), "--out", str(tmp_path), "--data-root", str(tmp_path)]
    p = subprocess.run(base + ["--dataset", "celebaa"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "celebaa" in p.stderr
    for seeds, why in (("1,x", "takes comma-separated integers, got '1,x'"),
                       ("1,-2", "takes non-negative integers, got '1,-2'")):
        p = subprocess.run(base + ["--seeds", seeds], capture_output=True, text=True, timeout=120)
        assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1, p.stderr
        assert p.stderr.startswith("error: argument --seeds: ") and f"--seeds {why}" in p.stderr, p.stderr
    for flag, value in (("--seed", "-1"), ("--aug-rate", "inf"), ("--aug-rate", "nan"), ("--stop-after", "0")):
        p = subprocess.run(base + [flag, value, "--budget", "smoke"], capture_output=True, text=True, timeout=300)
        assert p.returncode == 2 and f"argument {flag}" in p.stderr.strip().splitlines()[-1], (flag, p.stderr)
    assert not (tmp_path / "caleg").exists()


@pytest.mark.parametrize("flag, value", [
    ("--cov-ridge", "nan"), ("--cov-ridge", "inf"), ("--val-fraction", "-inf"), ("--aug-rate", "nan"),
    ("--stop-after", "-1"), ("--seed", str(2 ** 32)), ("--split-seed", str(2 ** 32)), ("--ir", "inf"),
])
def test_numbers_counts_and_seeds_are_checked_when_parsed(flag, value, capsys):
    import run as run_py
    from shared_data import skeleton

    with pytest.raises(SystemExit) as exc:
        skeleton.build_parser(run_py.METHOD).parse_args([f"{flag}={value}"])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith(f"error: argument {flag}") and value in err, err


@pytest.mark.parametrize("flags", [["--seed", str(2 ** 32)], ["--seeds", f"1,{2 ** 32}"],
                                   ["--split-seed", str(2 ** 40)]])
def test_a_seed_beyond_32_bits_is_one_line_and_leaves_no_run_folder(tmp_path, flags):
    p = subprocess.run([sys.executable, str(ROOT / "run.py"), *SMOKE, "--out", str(tmp_path / "out"), "--data-root",
                        str(tmp_path / "data"), *flags], capture_output=True, text=True, timeout=600)
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), p.stderr[-3000:]
    assert flags[0] in lines[0], lines[0]
    assert not (tmp_path / "out").exists()


@needs_mnist
def test_a_truncated_checkpoint_or_refit_is_a_one_line_error_that_names_it(tmp_path, data_root):
    import shutil

    cmd = [sys.executable, str(ROOT / "run.py"), *SMOKE, "--out", str(tmp_path / "out"), "--data-root", data_root]
    assert subprocess.run(cmd + ["--stop-after", "1"], capture_output=True, timeout=600).returncode == 3
    run = only_run(tmp_path / "out")
    shutil.copytree(run, tmp_path / "saved")
    data = run / "checkpoints" / "caleg-0.data-00000-of-00001"
    refit = run / "refits" / "epoch000.npz"
    for damaged, needle in ((data, str(run / "checkpoints" / "caleg-0")), (refit, str(refit))):
        with open(damaged, "r+b") as f:
            f.truncate(damaged.stat().st_size // 2)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr[-3000:]
        last = p.stderr.strip().splitlines()[-1]
        assert last.startswith("error: ") and needle in last and f"delete {run / 'checkpoints'}" in last, last
        assert not (run / "result.json").exists()
        shutil.rmtree(run)
        shutil.copytree(tmp_path / "saved", run)


def test_a_refit_file_holding_a_pickle_is_refused_without_running_it(tmp_path):
    from types import SimpleNamespace

    from caleg.train import Trainer
    from shared_data import records

    marker = tmp_path / "pickle-ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    (tmp_path / "refits").mkdir()
    np.savez(tmp_path / "refits" / "epoch000.npz", means=np.array([Payload()], dtype=object),
             covariances=np.zeros(1), pool_counts=np.zeros(1))
    trainer = Trainer.__new__(Trainer)
    trainer.run = SimpleNamespace(path=tmp_path, checkpoint_dir=tmp_path / "checkpoints")
    with pytest.raises(records.RunError, match="epoch000.npz: unreadable"):
        trainer._load_fit(0)
    assert not marker.exists()


@needs_mnist
@pytest.mark.parametrize("flags, message", [
    (["--report-epoch", "3"], "error: --report-epoch 3 is outside 1..2 (the epochs of this budget)"),
    (["--aug-rate", "0.001"], "error: aug rate 0.001 generates no code for a batch of 20"),
])
def test_a_run_refused_before_training_leaves_no_run_folder(tmp_path, data_root, capsys, flags, message):
    import run as run_py

    assert run_py.main(SMOKE + ["--out", str(tmp_path / "out"), "--data-root", data_root] + flags) == 2
    assert capsys.readouterr().err.strip() == message
    assert not (tmp_path / "out").exists()


@needs_mnist
@pytest.mark.parametrize("which", ["--out", "--data-root"])
def test_a_folder_under_a_file_is_a_one_line_error(tmp_path, data_root, capsys, which):
    import run as run_py

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    paths = {"--out": str(tmp_path / "out"), "--data-root": data_root, which: str(blocker / "sub")}
    assert run_py.main(SMOKE + ["--out", paths["--out"], "--data-root", paths["--data-root"]]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(blocker) in err and err.startswith("error: "), err
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="permissions do not stop root")
@pytest.mark.parametrize("which", ["--out", "--data-root"])
def test_a_folder_that_is_not_writable_is_a_one_line_error(tmp_path, data_root, capsys, which):
    import run as run_py

    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        paths = {"--out": str(tmp_path / "out"), "--data-root": data_root, which: str(locked / "sub")}
        assert run_py.main(SMOKE + ["--out", paths["--out"], "--data-root", paths["--data-root"]]) == 2
    finally:
        locked.chmod(0o700)
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(locked) in err and err.startswith("error: "), err
