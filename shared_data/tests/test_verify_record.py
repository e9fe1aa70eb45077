"""``python -m shared_data verify-record``: a record's command made again, its predictions compared bit for bit.

The end-to-end test makes a smoke-budget record with the fastest method this interpreter (or the method's own
environment) can run, published as ``make reproduce-*`` publishes, then verifies it (identical) and a copy whose
predictions hash was tampered with (differs, exit 1). The refusals need no re-run."""
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from shared_data import identity, records, verify_record

from test_records import _result

ROOT = Path(__file__).resolve().parents[2]
# (folder, its run.py flags for a smoke record, the framework it needs): the fastest smoke runs first.
CANDIDATES = [("imsic_torch", ["--model", "baseline"], "torch"), ("gamo_keras", ["--model", "baseline"], "keras"),
              ("dgc_tf", [], "tensorflow")]


def _python_for(folder: str, framework: str) -> str | None:
    try:
        python = verify_record.method_python(ROOT, folder)
        return str(python)
    except verify_record.CannotCompare:
        pass
    return sys.executable if importlib.util.find_spec(framework) is not None else None


def _cli(*args, env=None, timeout=900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "shared_data", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=ROOT)


def _env() -> dict:
    return dict(os.environ, OMP_NUM_THREADS="1", TF_CPP_MIN_LOG_LEVEL="2", MPLBACKEND="Agg")


def _write(tmp_path: Path, record: dict, name="toy-run") -> Path:
    folder = tmp_path / "results" / record["method"] / name
    folder.mkdir(parents=True)
    (folder / "result.json").write_text(records.to_json(record))
    return folder


def _recordable(**over) -> dict:
    r = _result(command=["dgc_tf/run.py", "--dataset", "mnist", "--budget", "smoke", "--out", "<out>"])
    r["predictions_sha256"] = "ab" * 32
    r.update(over)
    return r


@pytest.mark.parametrize("change, says", [
    (dict(command=None), "names no command"),
    (dict(predictions_sha256=None), "no predictions_sha256"),
    (dict(machine=None, machine_id=None), "names no machine identity"),
])
def test_a_record_without_what_verification_needs_cannot_be_compared(tmp_path, change, says):
    record = {k: v for k, v in _recordable(**change).items() if v is not None}
    p = _cli("verify-record", _write(tmp_path, record))
    assert p.returncode == 2 and p.stdout.startswith("cannot compare:") and says in p.stdout, p.stdout + p.stderr


def test_a_record_from_another_machine_cannot_be_compared(tmp_path):
    here = identity.describe_machine()
    other = json.loads(json.dumps(here))
    other["cpu"]["flags"] = sorted(set(other["cpu"]["flags"]) ^ {"avx512f", "amx_tile"})
    other["cpu"]["model"] = "Example CPU 9000 (no real machine)"  # never this machine's model, whatever runs the test
    record = _recordable(machine=other, machine_id=identity.machine_id(other))
    p = _cli("verify-record", _write(tmp_path, record))
    assert p.returncode == 2 and "another device" in p.stdout and "cpu.flags" in p.stdout, p.stdout + p.stderr
    assert "cpu.model: 'Example CPU 9000 (no real machine)' vs" in p.stdout


def test_the_rerun_gets_the_records_math_settings_and_its_own_folders(tmp_path):
    env = verify_record.rerun_env({"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": None, "TF_ENABLE_ONEDNN_OPTS": "0"},
                                  base={"OMP_NUM_THREADS": "8", "MKL_NUM_THREADS": "8", "XLA_FLAGS": "--x",
                                        "HOME": "/h"})
    assert env == {"OMP_NUM_THREADS": "1", "TF_ENABLE_ONEDNN_OPTS": "0", "HOME": "/h"}
    record = _recordable(command=["dgc_tf/run.py", "--dataset", "mnist", "--out", "<out>", "--publish",
                                  "<results>", "--allow-dirty"])
    args = verify_record.rerun_args(record, tmp_path / "o", tmp_path / "d", [tmp_path / "m"])
    assert args == ["--dataset", "mnist", "--budget", "smoke", "--out", str(tmp_path / "o"), "--data-root",
                    str(tmp_path / "d"), "--mirror", str(tmp_path / "m")]
    with pytest.raises(verify_record.CannotCompare, match="budget"):
        verify_record.rerun_args(dict(record, command=["dgc_tf/run.py", "--budget=quick"]), tmp_path, tmp_path)


@pytest.fixture(scope="module")
def smoke_record(tmp_path_factory, mirror):
    """A smoke-budget record made by run.py and published, as ``make reproduce-*`` does."""
    for folder, flags, framework in CANDIDATES:
        python = _python_for(folder, framework)
        if python:
            break
    else:
        pytest.skip("no method environment can run here")
    tmp = tmp_path_factory.mktemp("verify")
    cmd = [python, "run.py", "--dataset", "mnist", "--budget", "smoke", *flags, "--out", tmp / "runs",
           "--data-root", tmp / "data", "--publish", tmp / "results", "--allow-dirty", "--no-progress"]
    p = subprocess.run(list(map(str, cmd)), cwd=ROOT / folder, env=_env(), capture_output=True, text=True,
                       timeout=900)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    [published] = sorted((tmp / "results").glob("*/*/result.json"))
    return published.parent, python, tmp


def test_a_smoke_record_made_again_is_identical(smoke_record):
    folder, python, tmp = smoke_record
    record = json.loads((folder / "result.json").read_text())
    assert record["command"][0].endswith("/run.py") and "<out>" in record["command"]
    assert str(tmp) not in json.dumps(record["command"])  # no path of this machine in the command
    assert record["machine_id"] == identity.machine_id(record["machine"])
    assert record["machine"]["env"]["OMP_NUM_THREADS"] == "1"
    p = _cli("verify-record", folder, "--python", python, "--data-root", tmp / "data", env=_env())
    assert p.returncode == 0, p.stdout + p.stderr
    assert "identical:" in p.stdout, p.stdout


def test_a_tampered_record_differs(smoke_record, tmp_path):
    folder, python, tmp = smoke_record
    copy = tmp_path / "results" / folder.parent.name / folder.name
    shutil.copytree(folder, copy)
    record = json.loads((copy / "result.json").read_text())
    record["predictions_sha256"] = records.predictions_sha256([0, 1, 2])
    (copy / "result.json").write_text(records.to_json(record))
    # run from another folder, with the math settings of this process: the record's are applied all the same
    p = _cli("verify-record", copy, "--python", python, "--data-root", tmp / "data",
             env=dict(os.environ, OMP_NUM_THREADS="2", TF_CPP_MIN_LOG_LEVEL="2", MPLBACKEND="Agg"))
    assert p.returncode == 1, p.stdout + p.stderr
    assert "differs:" in p.stdout, p.stdout


def test_the_notes_name_code_changed_since_the_record_and_leave_out_documentation(tmp_path):
    def git(*args):
        return subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True, text=True).stdout.strip()

    git("init", "-q")
    git("config", "user.email", "t@example.org")
    git("config", "user.name", "t")
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "run.py").write_text("x = 1\n")
    (tmp_path / "toy" / "README.md").write_text("a\n")
    (tmp_path / "other.py").write_text("y = 1\n")
    git("add", ".")
    git("commit", "-qm", "record")
    record = {"git_commit": git("rev-parse", "HEAD")}
    assert verify_record.code_notes(tmp_path, record, "toy") == []

    (tmp_path / "toy" / "README.md").write_text("b\n")  # documentation and code outside the method: no note
    (tmp_path / "other.py").write_text("y = 2\n")
    git("commit", "-qam", "docs")
    assert verify_record.code_notes(tmp_path, record, "toy") == []

    (tmp_path / "toy" / "run.py").write_text("x = 2\n")
    git("commit", "-qam", "code")
    notes = verify_record.code_notes(tmp_path, record, "toy")
    assert len(notes) == 1 and "1 file(s)" in notes[0] and "(toy/run.py)" in notes[0], notes

    (tmp_path / "toy" / "run.py").write_text("x = 3\n")  # uncommitted
    dirty = verify_record.code_notes(tmp_path, dict(record, git_commit=record["git_commit"] + "+dirty"), "toy")
    assert any("uncommitted changes on" in n for n in dirty) and any("this checkout" in n for n in dirty), dirty
    assert f"the record's commit {'f' * 12} is not in this repository's history" in \
        verify_record.code_notes(tmp_path, {"git_commit": "f" * 40}, "toy")
