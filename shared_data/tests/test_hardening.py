"""Faults a run must survive and inputs it must refuse: what a killed writer leaves, torn logs, bad split files."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from shared_data import records, splits
from shared_data.fetch import DataError


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_a_torn_last_log_line_is_dropped_with_a_warning_on_resume(tmp_path):
    run = records.RunDir.create(tmp_path, "toy", "r", {"a": 1})
    run.log_metrics({"step": 1})
    with open(run.metrics_path, "a") as f:
        f.write('{"kind": "train", "st')  # killed while appending
    with pytest.warns(UserWarning, match="dropped a torn last line"):
        again = records.RunDir.create(tmp_path, "toy", "r", {"a": 1})
    assert again.read_metrics() == [{"kind": "train", "step": 1}]
    again.log_metrics({"step": 2})
    assert [r["step"] for r in again.read_metrics()] == [1, 2]


def test_a_damaged_log_beyond_its_last_line_is_an_error(tmp_path):
    run = records.RunDir.create(tmp_path, "toy", "r", {})
    run.metrics_path.write_text('{"kind": "train"}\nnot json\n{"kind": "train"}\n')
    with pytest.raises(records.RunError, match=r"metrics.jsonl:2: unreadable record"):
        records.RunDir.create(tmp_path, "toy", "r", {})


def test_orphan_temporary_files_of_a_killed_writer_are_removed_on_the_next_start(tmp_path):
    run = records.RunDir.create(tmp_path, "toy", "r", {})
    dead = _dead_pid()
    orphan = run.path / f".result.json.{dead}.x1y2.tmp"
    orphan.write_text("half")
    ckpt_orphan = run.checkpoint_dir / f".ckpt.npz.{dead}.abc.tmp"
    ckpt_orphan.write_text("half")
    alive = run.path / f".predictions.npz.{os.getpid() + 0}.abc.tmp"  # our own: a write in progress
    alive.write_text("mine")
    records.RunDir.create(tmp_path, "toy", "r", {})
    assert not orphan.exists() and not ckpt_orphan.exists() and alive.exists()


def test_a_killed_split_write_leaves_nothing_behind_after_the_next_run(split_root, tmp_path):
    out = tmp_path / "splits" / "mnist-dgc-s2"
    left = tmp_path / "splits" / f".mnist-dgc-s2.{_dead_pid()}.abcd"
    left.mkdir(parents=True)
    (left / "train.npz").write_bytes(b"half")
    split = splits.build_split("mnist", "dgc", 2, data_root=split_root)
    splits.write_split(split, out)
    assert sorted(p.name for p in out.parent.iterdir()) == ["mnist-dgc-s2"]
    assert oct(out.stat().st_mode & 0o777) == oct(0o755)
    assert all((out / f).stat().st_mode & 0o077 == 0o644 & 0o077 & ~records._umask() for f in split.manifest["files"])


def test_verify_checks_every_file_and_the_counts(split_root, tmp_path):
    split = splits.build_split("mnist", "dgc", 3, data_root=split_root)
    out = splits.write_split(split, tmp_path / "s")
    assert splits.verify_files(out).split_hash == split.split_hash
    csv = (out / "train.csv").read_bytes()
    (out / "train.csv").write_bytes(csv[:-2] + b"9\n")  # one label changed in the CSV only
    with pytest.raises(DataError, match="train.csv: sha256 .* differs from the manifest"):
        splits.verify_files(out)
    (out / "train.csv").write_bytes(csv)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["train_counts"][0] += 1
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DataError, match="train labels count .* the manifest says"):
        splits.load_split(out)


def test_records_are_written_with_the_usual_permissions(tmp_path):
    path = records.atomic_write_json(tmp_path / "r.json", {"a": 1})
    assert path.stat().st_mode & 0o777 == 0o666 & ~records._umask()


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "shared_data", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("case", ["missing_result", "not_json", "data_root_under_a_file", "unwritable_split_folder",
                                  "negative_seed"])
def test_file_system_and_argument_errors_are_one_line(case, tmp_path, mirror):
    (tmp_path / "file").write_text("x")
    if case == "missing_result":
        p, expect = _cli("validate", str(tmp_path / "nope.json")), "nope.json"
    elif case == "not_json":
        p, expect = _cli("validate", str(tmp_path / "file")), "not JSON"
    elif case == "data_root_under_a_file":
        p = _cli("split", "--dataset", "mnist", "--protocol", "dgc", "--data-root", str(tmp_path / "file" / "d"),
                 "--mirror", str(mirror))
        expect = "file"
    elif case == "unwritable_split_folder":
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders")
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        p, expect = _cli("split", "--dataset", "mnist", "--protocol", "dgc", "--out", str(ro / "s"), "--mirror",
                         str(mirror), "--data-root", str(tmp_path / "d")), "ro"
    else:
        p = _cli("split", "--dataset", "mnist", "--protocol", "dgc", "--split-seed", "-3")
        expect = "argument --split-seed: a seed is a non-negative integer, got -3"  # argparse's usage, then this
    assert p.returncode == 2, p.stderr
    lines = [line for line in p.stderr.strip().splitlines() if line.strip()]
    assert expect in lines[-1] and (len(lines) == 1 or lines[0].startswith("usage:")), p.stderr
    assert "Traceback" not in p.stderr


def test_a_file_whose_class_counts_are_not_the_official_ones_is_refused(tmp_path, mirror):
    from shared_data import readers, registry

    spec = registry.get("mnist")
    fake = registry.DatasetSpec(**{**spec.__dict__, "train_class_counts": (6000,) * 10})
    registry_backup = dict(registry.DATASETS)
    registry.DATASETS["mnist"] = fake
    try:
        with pytest.raises(DataError, match="per-class counts .* differ from the registry"):
            readers.load_dataset("mnist", tmp_path, [str(mirror)], download=False)
    finally:
        registry.DATASETS.clear()
        registry.DATASETS.update(registry_backup)
    assert np.sum(spec.train_class_counts) == spec.n_train


def test_sigterm_is_handled_like_ctrl_c(tmp_path):
    code = ("import os, signal, time\nfrom shared_data import cli\ncli.sigterm_as_interrupt()\n"
            "try:\n    os.kill(os.getpid(), signal.SIGTERM)\n    time.sleep(5)\n"
            "except KeyboardInterrupt:\n    print('checkpointed')\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stdout.strip() == "checkpointed", p.stderr
