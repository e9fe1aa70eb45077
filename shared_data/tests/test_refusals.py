"""What must be refused: names that would lead outside their folder, flags and records that would be wrongly
accepted, a second run in a folder that another run owns, and bad input that used to end in a traceback. Each
refusal is one line naming the flag or file and what to do, with a non-zero exit and nothing written."""
import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shared_data import cli, paths, records, report, splits
from shared_data.fetch import DataError
from test_records import _finish, _result


def _cli(*args, cwd=None):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "shared_data", *args], capture_output=True, text=True, timeout=300,
                          cwd=cwd, env=env)


def _one_line(p) -> str:
    """The single error line of a refused command (argparse may print its usage line first)."""
    assert p.returncode == 2, p.stdout + p.stderr
    assert "Traceback" not in p.stderr, p.stderr
    lines = [line for line in p.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 or lines[0].startswith("usage:"), p.stderr
    return lines[-1]


def _finished_run(root, method="toy", name="r1", **over) -> records.RunDir:
    """A finished run folder (no longer held: the RunDir that made it is dropped)."""
    _finish(records.RunDir.create(root, "toy", name, {}), dict(_result(**over), method=method))
    return records.RunDir(Path(root) / "toy" / name)


@pytest.fixture
def split_dir(split_root, tmp_path):
    """A written MNIST dgc split of its own (a copy: a test may damage it)."""
    source = splits.get_split("mnist", "dgc", 1, data_root=split_root).path
    return Path(shutil.copytree(source, tmp_path / "split"))


def _edit_manifest(folder: Path, **fields) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest.update(fields)
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


# -- 1. names and paths that lead outside their folder ----------------------------------------------------------

def test_safe_name_takes_plain_names_only_and_inside_resolves_paths(tmp_path):
    for good in ("mnist-dgc-gamo-split0-seed0-full", "caleg-r1+cov-ridge0.001", "a.b_c", ".hidden"):
        assert paths.safe_name(good, "run name") == good
    for bad in ("../x", "..", ".", "a/b", "/etc", "..x", "a b", "", "a\\b", None, 3):
        with pytest.raises(paths.UnsafePathError, match="--tag"):
            paths.safe_name(bad, "--tag")
    (tmp_path / "in").mkdir()
    assert paths.inside(tmp_path, "in/f") == (tmp_path / "in" / "f").resolve()
    (tmp_path / "in" / "link").symlink_to("/etc")
    for bad in ("../x", "/etc/hostname", "in/link/hostname", "in/../../x"):
        with pytest.raises(paths.UnsafePathError, match="leads outside"):
            paths.inside(tmp_path, bad)


def test_publish_never_writes_outside_results_whatever_the_record_says(tmp_path):
    results = tmp_path / "a" / "b" / "results"
    run = _finished_run(tmp_path / "runs", method="../../x")
    with pytest.raises(records.RunError, match="method '../../x' is not a plain name"):
        records.publish(run.path, results)
    assert not (tmp_path / "a" / "x").exists() and not results.exists()
    p = _cli("publish", str(run.path), "--results", str(results), "--allow-dirty")
    assert "method '../../x' is not a plain name" in _one_line(p)
    assert sorted(str(f.relative_to(tmp_path)) for f in tmp_path.rglob("result.json")) == ["runs/toy/r1/result.json"]


def test_run_names_and_run_folders_take_plain_names_only(tmp_path):
    with pytest.raises(records.RunError, match="--tag '../../up' is not a plain name"):
        records.run_name("mnist", "gamo", 0, 0, "smoke", variant="gamo", tag="../../up")
    with pytest.raises(records.RunError, match="run name"):
        records.run_name("../mnist", "gamo", 0, 0, "smoke")
    for method, name in (("../m", "r"), ("m", "../../r"), ("m", "/abs"), (".", "r"), ("m", "..")):
        with pytest.raises(records.RunError, match="is not a plain name|names the folder itself"):
            records.RunDir.create(tmp_path / "out", method, name, {})
    assert not (tmp_path / "out").exists()


def test_verify_reads_only_files_inside_the_split_folder(split_dir, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("not for a split\n")
    digest = hashlib.sha256(secret.read_bytes()).hexdigest()
    files = json.loads((split_dir / "manifest.json").read_text())["files"]
    for name in (f"../{secret.name}", str(secret)):
        _edit_manifest(split_dir, files=dict(files, **{name: "0" * 64}))
        line = _one_line(_cli("verify", "--split", str(split_dir)))
        assert "manifest.json" in line and "not a plain name" in line and digest[:8] not in line, line
        with pytest.raises(DataError, match="not a plain name"):
            splits.verify_files(split_dir)
    _edit_manifest(split_dir, files=files)
    (split_dir / "train.csv").unlink()
    (split_dir / "train.csv").symlink_to(secret)  # a plain name that resolves outside
    line = _one_line(_cli("verify", "--split", str(split_dir)))
    assert "leads outside" in line and digest[:8] not in line, line


# -- 2. wrongly accepted ----------------------------------------------------------------------------------------

def test_a_flag_the_protocol_ignores_is_refused_not_recorded(tmp_path, mirror):
    for extra, message in ((("--protocol", "dgc", "--ir", "5"), "--ir 5 is not used by the dgc protocol"),
                           (("--protocol", "gamo", "--ir", "5"), "--ir 5 is not used by the gamo protocol"),
                           (("--protocol", "exp", "--ir", "5", "--imbalance", "0"), "--ir 5 is not used with "
                                                                                   "--imbalance 0"),
                           (("--protocol", "exp", "--ir", "5", "--counts", "1,1,1,1,1,1,1,1,1,1"),
                            "--ir 5 is not used with explicit --counts")):
        p = _cli("split", "--dataset", "mnist", *extra, "--data-root", str(tmp_path), "--mirror", str(mirror),
                 "--no-download")
        assert message in _one_line(p)
    assert not (tmp_path / "splits").exists()
    with pytest.raises(splits.protocols.SplitError, match="--minority 3 is used only by the dfg protocol"):
        splits.get_split("mnist", "dgc", 0, minority=3, data_root=tmp_path)


@pytest.mark.parametrize("field, value, message", [
    ("split_id", "mnist-dgc-s2", "split_id 'mnist-dgc-s2', its fields give 'mnist-dgc-s1'"),
    ("imbalance_ratio", 10.0, "imbalance_ratio 10.0, the counts give 100.0"),
    ("test_per_class", 7, "split_id 'mnist-dgc-s1', its fields give 'mnist-dgc-s1-test7'"),
    ("n_train", 9001, "n_train 9001 but 9000 images"),
])
def test_verify_refuses_a_manifest_whose_identity_fields_were_edited(split_dir, field, value, message):
    _edit_manifest(split_dir, **{field: value})
    line = _one_line(_cli("verify", "--split", str(split_dir)))
    assert message in line and "delete the folder" in line, line


def test_a_run_never_trusts_a_forged_test_subset(split_dir, tmp_path):
    root = tmp_path / "root"
    target = splits.default_split_dir("mnist-dgc-s1", root)
    shutil.copytree(split_dir, target)
    _edit_manifest(target, test_per_class=7, split_id="mnist-dgc-s1-test7")
    with pytest.raises(DataError, match="test_per_class 7 but a class has 1135 test images"):
        splits.get_split("mnist", "dgc", 1, data_root=root)
    with pytest.raises(DataError, match="does not describe the split it holds"):
        splits.get_split("mnist", "dgc", 1, data_root=root, test_per_class=50)


def test_publish_runs_the_validation_of_validate(tmp_path):
    torn = _finished_run(tmp_path / "runs", name="torn")
    with open(torn.metrics_path, "a") as f:
        f.write('{"kind": "train", "st')
    forged = _finished_run(tmp_path / "runs", name="forged")
    r = forged.read_result()
    cm = [[2, 0, 0], [0, 2, 0], [0, 0, 2]]  # a perfect score, consistent in itself; the predictions say otherwise
    m = dict(r["metrics"], confusion_matrix=cm, per_class_recall=[1.0, 1.0, 1.0], acsa=1.0, accuracy=1.0)
    records.atomic_write_json(forged.result_path, dict(r, metrics=m))
    records.validate_result(json.loads(forged.result_path.read_text()))
    for run, message in ((torn, "the last line is torn"),
                         (forged, "predictions.npz does not give result.json's confusion matrix")):
        assert message in _one_line(_cli("validate", str(run.path)))
        with pytest.raises(records.RunError, match=message):
            records.publish(run.path, tmp_path / "results")
        assert message in _one_line(_cli("publish", str(run.path), "--results", str(tmp_path / "results")))
    assert not (tmp_path / "results").exists()


def test_report_refuses_a_missing_results_or_paper_tables_folder_and_writes_nothing(tmp_path):
    (tmp_path / "results").mkdir()
    (tmp_path / "paper").mkdir()
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{report.README_START}\nthe tables\n{report.README_END}\n")
    before = readme.read_text()
    for flags, message in ((("--results", str(tmp_path / "resluts"), "--paper-tables", str(tmp_path / "paper")),
                            f"--results {tmp_path / 'resluts'}: no such folder"),
                           (("--results", str(tmp_path / "results"), "--paper-tables", str(tmp_path / "papr")),
                            f"--paper-tables {tmp_path / 'papr'}: no such folder")):
        line = _one_line(_cli("report", *flags, "--write-readme", str(readme), "--markdown", str(tmp_path / "m.md")))
        assert message in line, line
    assert readme.read_text() == before and not (tmp_path / "m.md").exists()
    assert _cli("report", "--results", str(tmp_path / "results"), "--paper-tables", str(tmp_path / "paper"))\
        .returncode == 0


def _holder(folder: Path, *, then: str = "time.sleep(60)") -> subprocess.Popen:
    """Another process that makes the run folder and holds it, printing 'held' once it does."""
    code = (f"import sys, time\nfrom shared_data import records\n"
            f"run = records.RunDir.create({str(folder)!r}, 'toy', 'r1', {{}})\nprint('held', flush=True)\n{then}\n")
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_run_folder_is_locked_while_a_run_owns_it(tmp_path):
    owner = _holder(tmp_path)
    try:
        assert owner.stdout.readline().strip() == "held", owner.stderr.read()
        with pytest.raises(records.RunError, match=f"is in use by another run \\(pid {owner.pid} on "):
            records.RunDir.create(tmp_path, "toy", "r1", {})
        assert not (tmp_path / "toy" / "r1" / "metrics.jsonl").exists()
    finally:
        owner.kill()
        owner.wait()
    # the owner was killed: its lock is stale and taken over; released again when the new owner is done
    with records.RunDir.create(tmp_path, "toy", "r1", {}) as run:
        lock = json.loads((run.path / records.LOCK_NAME).read_text())
        assert lock["pid"] == os.getpid()
        again = records.RunDir.create(tmp_path, "toy", "r1", {})  # the same process may open it again
        again.release()
        assert (run.path / records.LOCK_NAME).exists()
    assert not (run.path / records.LOCK_NAME).exists()
    # a process that ends without releasing it explicitly leaves no lock behind
    done = _holder(tmp_path, then="")
    assert done.communicate(timeout=60)[0].strip() == "held" and done.returncode == 0
    assert not (run.path / records.LOCK_NAME).exists()
    # a RunDir that is dropped gives its lock back
    records.RunDir.create(tmp_path, "toy", "r1", {})
    assert not (run.path / records.LOCK_NAME).exists()


def test_two_runs_on_one_out_folder_do_not_both_write_the_log(tmp_path):
    """The second of two runs with the same flags stops at once with one line naming the owner."""
    first = _holder(tmp_path, then="run.log_metrics({'step': 1})\ntime.sleep(60)")
    try:
        assert first.stdout.readline().strip() == "held"
        code = ("import sys\nfrom shared_data import records\ntry:\n"
                f"    run = records.RunDir.create({str(tmp_path)!r}, 'toy', 'r1', {{}})\n"
                "    run.log_metrics({'step': 1})\nexcept records.RunError as exc:\n"
                "    sys.exit(f'error: {exc}')\n")
        second = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert second.returncode == 1 and second.stderr.count("\n") == 1, second.stderr
        assert f"in use by another run (pid {first.pid} " in second.stderr
        deadline = time.time() + 30
        log = tmp_path / "toy" / "r1" / "metrics.jsonl"
        while time.time() < deadline and not log.exists():
            time.sleep(0.05)
        assert log.read_text().count("\n") == 1
    finally:
        first.kill()
        first.wait()


# -- 3. data that must not be lost ------------------------------------------------------------------------------

def test_publish_never_silently_replaces_another_result_of_the_same_run(tmp_path):
    results = tmp_path / "results"
    first = _finished_run(tmp_path / "a")
    target = records.publish(first.path, results)
    before = target.read_bytes()
    assert records.publish(first.path, results) == target and target.read_bytes() == before  # identical: no-op
    other = _finished_run(tmp_path / "b", wall_time_s=9.0)
    with pytest.raises(records.RunError, match="already holds another result of this run on this device"):
        records.publish(other.path, results)
    line = _one_line(_cli("publish", str(other.path), "--results", str(results)))
    assert "pass --replace" in line
    assert target.read_bytes() == before
    p = _cli("publish", str(other.path), "--results", str(results), "--replace")
    assert p.returncode == 0, p.stderr
    assert json.loads(target.read_text())["wall_time_s"] == 9.0


# -- 4. tracebacks that become one line -------------------------------------------------------------------------

def test_a_manifest_that_is_not_an_object_is_one_line(split_dir):
    (split_dir / "manifest.json").write_text("[1, 2, 3]\n")
    assert "manifest.json holds a JSON list, not an object" in _one_line(_cli("verify", "--split", str(split_dir)))


def test_a_paper_table_without_its_columns_is_one_line(tmp_path):
    (tmp_path / "results").mkdir()
    (tmp_path / "paper").mkdir()
    (tmp_path / "paper" / "t.csv").write_text("dataset,score\nmnist,0.5\n")
    line = _one_line(_cli("report", "--results", str(tmp_path / "results"), "--paper-tables", str(tmp_path / "paper")))
    assert "t.csv: a paper table needs the columns" in line and "missing source, table" in line, line
    (tmp_path / "paper" / "t.csv").write_text("source,table,dataset,protocol,method,metric,value,std\nX,1,m,d,M,ACSA,"
                                              "high,\n")
    assert "column value holds something that is not a number" in _one_line(
        _cli("report", "--results", str(tmp_path / "results"), "--paper-tables", str(tmp_path / "paper")))


def test_counts_beyond_the_protocols_pool_are_refused_before_any_draw(tmp_path, mirror):
    for protocol, counts, message in (
            ("gamo", "100000000,1,1,1,1,1,1,1,1,1", "class 0 asks for 100000000 images but only 4000 exist among "
                                                    "the first 4000"),
            ("gamo", "4001,1,1,1,1,1,1,1,1,1", "pass at most 4000"),
            ("dfg", "1,1,1,1,1,1,1,1,1,7000", "class 9 asks for 7000 images but only 5949 exist")):
        p = _cli("split", "--dataset", "mnist", "--protocol", protocol, "--counts", counts, "--data-root",
                 str(tmp_path), "--mirror", str(mirror), "--no-download")
        assert message in _one_line(p)
    p = _cli("split", "--dataset", "mnist", "--protocol", "gamo", "--counts", "10,x")
    assert "--counts takes comma-separated integers" in _one_line(p)
    assert not (tmp_path / "splits").exists()


# -- 5. the argument types --------------------------------------------------------------------------------------

def test_argument_types_refuse_what_the_methods_cannot_use():
    assert cli.finite_float("1e-3") == 1e-3 and cli.positive_int("3") == 3 and cli.nonneg_int("0") == 0
    assert cli.seed("0") == 0 and cli.seed(str(2 ** 32 - 1)) == 2 ** 32 - 1
    for parse, value, message in ((cli.finite_float, "nan", "a finite number, got 'nan'"),
                                  (cli.finite_float, "-inf", "a finite number, got '-inf'"),
                                  (cli.finite_float, "x", "a number, got 'x'"),
                                  (cli.positive_int, "0", "a positive integer, got 0"),
                                  (cli.positive_int, "1.5", "a positive integer, got '1.5'"),
                                  (cli.nonneg_int, "-1", "a non-negative integer, got -1"),
                                  (cli.seed, str(2 ** 32), f"at most 2**32 - 1 = {2 ** 32 - 1}, got {2 ** 32}"),
                                  (cli.seed, "-1", "non-negative integer, got -1")):
        with pytest.raises(argparse.ArgumentTypeError, match=re.escape(message)):
            parse(value)
    assert cli.plain_name("run-2") == "run-2"
    with pytest.raises(argparse.ArgumentTypeError, match=re.escape("name '../x' is not a plain name")):
        cli.plain_name("../x")
    with pytest.raises(ValueError, match=re.escape("--seeds takes seeds of at most 2**32 - 1")):
        cli.seed_list(f"1,{2 ** 32}")
    p = _cli("split", "--dataset", "mnist", "--protocol", "dgc", "--split-seed", str(2 ** 32))
    assert "argument --split-seed: a seed is at most 2**32 - 1" in _one_line(p)


@pytest.mark.parametrize("flag, value, message", [
    ("--seed", str(2 ** 32), "argument --seed: a seed is at most 2**32 - 1"),
    ("--split-seed", str(2 ** 40), "argument --split-seed: a seed is at most 2**32 - 1"),
    ("--ir", "nan", "argument --ir: expected a finite number, got 'nan'"),
])
def test_the_common_flags_use_them(flag, value, message, capsys):
    parser = cli.add_common_args(argparse.ArgumentParser(prog="run.py"), datasets=("mnist",), default_dataset="mnist")
    with pytest.raises(SystemExit) as exit_:
        parser.parse_args([flag, value])
    assert exit_.value.code == 2 and message in capsys.readouterr().err
    assert parser.parse_args(["--seed", str(2 ** 32 - 1)]).seed == 2 ** 32 - 1


def test_a_recorded_command_cannot_publish_through_an_abbreviated_flag():
    from shared_data import identity

    args = ["--dataset", "mnist", "--publ", "/elsewhere", "--allow-d", "--out=/x", "--data", "/d", "--seed", "1"]
    assert identity.strip_path_flags(args) == ["--dataset", "mnist", "--seed", "1"]


def test_run_py_flags_must_be_spelt_out():
    import argparse

    from shared_data import cli

    p = argparse.ArgumentParser()
    cli.add_common_args(p)
    with pytest.raises(SystemExit):
        p.parse_args(["--dataset", "mnist", "--publ", "/elsewhere"])
    assert p.parse_args(["--dataset", "mnist", "--publish", "r"]).publish == "r"


def test_a_run_folder_whose_config_is_not_a_json_object_is_one_line(tmp_path):
    folder = tmp_path / "toy" / "run"
    folder.mkdir(parents=True)
    for text in ("[1, 2, 3]", "{not json"):
        (folder / "config.json").write_text(text)
        with pytest.raises(records.RunError, match="config.json"):
            records.RunDir.create(tmp_path, "toy", "run", {"a": 1})


def test_validate_refuses_a_nan_acsa():
    from test_records import _result

    r = _result()
    r["metrics"]["acsa"] = float("nan")
    with pytest.raises(records.ResultValidationError, match="acsa is NaN"):
        records.validate_result(r)


def test_a_lock_left_by_a_process_that_ended_unreaped_is_taken_over(tmp_path):
    import socket

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.time() + 30
    while time.time() < deadline and Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
        time.sleep(0.05)  # ended, not yet waited for: a zombie
    try:
        folder = tmp_path / "toy" / "run"
        folder.mkdir(parents=True)
        (folder / records.LOCK_NAME).write_text(json.dumps(
            {"pid": child.pid, "host": socket.gethostname(), "start": None, "since": "then"}))
        run = records.RunDir.create(tmp_path, "toy", "run", {"a": 1})  # not refused: that process has ended
        assert json.loads((folder / records.LOCK_NAME).read_text())["pid"] == os.getpid()
        run.release()
    finally:
        child.wait()
