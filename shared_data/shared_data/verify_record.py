"""``python -m shared_data verify-record RECORD``: make a record again and compare its predictions bit for bit.

RECORD is a published record (``results/<method>/<run>/``, or its ``result.json``) or a finished run folder. Its
``command`` (the ``run.py`` argument list it was made with) runs again in a temporary folder, at the record's own
budget, in the method's own environment (``environments/env.sh --path <folder>``), with the math-library settings
the record names (``machine.env``: thread counts, ``TF_ENABLE_ONEDNN_OPTS``, ...). The re-run's
``predictions_sha256`` (the hash of its predicted labels) is then compared with the record's:

- ``identical`` (exit 0): the same command on the same code and machine gives the same predictions;
- ``differs`` (exit 1): it does not (the record cannot be made again from this checkout);
- ``cannot compare`` (exit 2), with the reason: the record names no command or no predictions hash (made
  before records carried them), or no machine identity; this machine is not the record's (another CPU model or
  vendor, other kernel-dispatch extensions, other core counts: see :mod:`shared_data.identity`), or the re-run's
  machine identity is not the record's (e.g. another thread count); the method's environment is missing; the
  re-run failed.

What differs between the record's commit and the checkout (the method folder, ``shared_data``, the method's
environment pins; Markdown files aside) is named as a note: a difference then may come from the code, not the
machine.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from . import identity
from .provenance import NOT_CODE
from .records import RESULT_SCHEMA, ResultValidationError, git_commit, validate_result

IDENTICAL, DIFFERS, CANNOT_COMPARE = 0, 1, 2
MACHINE_PARTS = ("cpu", "env")  # what can be checked here before re-running; the rest only the re-run knows


class CannotCompare(Exception):
    pass


def _default_repo() -> Path:
    here = Path(__file__).resolve().parents[2]  # <repo>/shared_data/shared_data/verify_record.py
    return here if (here / "environments" / "env.sh").exists() else Path.cwd()


def load_record(path: str | os.PathLike) -> tuple[Path, dict]:
    """The record's file and its (validated) content."""
    path = Path(path)
    file = path / "result.json" if path.is_dir() else path
    if not file.is_file():
        raise CannotCompare(f"{path}: no result.json there")
    try:
        record = validate_result(json.loads(file.read_text()))
    except (ValueError, ResultValidationError) as exc:
        raise CannotCompare(f"{file}: not a valid record ({exc})") from None
    return file, record


def method_python(repo: Path, folder: str, gpu: bool = False) -> Path:
    """The Python of ``folder``'s own environment (``environments/env.sh --path <folder>``; its CUDA variant,
    ``--gpu``, for a record made on a GPU, where env.sh knows one)."""
    script = str(repo / "environments" / "env.sh")
    found = None
    for flags in ((["--gpu"] if gpu else []) + ["--path"], ["--path"]):
        try:
            found = subprocess.run([script, *flags, folder], cwd=repo, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.SubprocessError) as exc:
            raise CannotCompare(f"environments/env.sh --path {folder} failed ({exc})") from None
        if found.returncode == 0:
            break
    if found.returncode != 0:
        raise CannotCompare(f"environments/env.sh --path {folder}: {found.stderr.strip() or found.returncode}")
    env_dir = Path(found.stdout.strip())
    python = (env_dir if env_dir.is_absolute() else repo / env_dir) / "bin" / "python"
    if not python.exists():
        raise CannotCompare(f"{folder}'s environment {env_dir} is not made yet: run `make env-{folder}` "
                            f"(environments/env.sh {folder}), or pass --python, then verify again")
    return python


def _seconds(value: str) -> float:
    import argparse
    import math

    try:
        v = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a number of seconds, got {value!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"a finite number of seconds above 0, got {value!r}")
    return v


def rerun_env(record_env: dict, base=None) -> dict:
    """``base`` (default ``os.environ``) with the record's math-library settings: the ones it names set as they
    were (unset where they were unset), every other one :mod:`shared_data.identity` knows unset."""
    env = dict(os.environ if base is None else base)
    for name in identity.MATH_ENV + identity.MATH_ENV_OPTIONAL:
        value = record_env.get(name)
        if value is None:
            env.pop(name, None)
        else:
            env[name] = str(value)
    return env


def _flag_value(args: list[str], flag: str) -> str | None:
    for i, arg in enumerate(args):
        if arg == flag and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


def rerun_args(record: dict, out: Path, data_root: str | os.PathLike, mirrors=()) -> list[str]:
    """The record's ``run.py`` arguments with this machine's folders in place of the placeholders, never
    ``--publish``, at the record's own budget."""
    args = identity.strip_path_flags(record["command"][1:])
    budget = _flag_value(args, "--budget")
    if budget is None:  # run.py's default budget may have changed since: name the record's
        args += ["--budget", record["budget"]]
    elif budget != record["budget"]:
        raise CannotCompare(f"the record's command runs budget {budget!r}, the record says {record['budget']!r}")
    args += ["--out", str(out), "--data-root", str(Path(data_root).absolute())]
    for m in mirrors:
        args += ["--mirror", str(Path(m).absolute())]
    return args


def find_rerun(out: Path, record: dict, name: str) -> dict:
    """The re-run's result: the run folder of the record's name, else the one run of the same cell."""
    direct = out / record["method"] / name / "result.json"
    if direct.is_file():
        return json.loads(direct.read_text())
    keys = ("method", "variant", "split_id", "seed", "budget", "eval_subset")
    for path in sorted(out.glob(f"{record['method']}/*/result.json")):
        found = json.loads(path.read_text())
        if all(found.get(k) == record.get(k) for k in keys):
            return found
    raise CannotCompare(f"the re-run left no result for {record['method']}/{name} under {out}")


def code_notes(repo: Path, record: dict, folder: str) -> list[str]:
    """What may have changed in the code since the record was made: its commit against the checkout (the method
    folder, ``shared_data``'s package and the method's environment pins; Markdown is not code, as for ``+dirty``)."""
    recorded, now = record.get("git_commit", "unknown"), git_commit(repo)
    notes = []
    if recorded.endswith("+dirty"):
        notes.append(f"the record was made from uncommitted changes on {recorded[:12]}: its code is not known")
    if now.endswith("+dirty"):
        notes.append(f"this checkout ({now[:12]}) has uncommitted changes")
    base = recorded.removesuffix("+dirty")
    if base != "unknown" and base != now.removesuffix("+dirty"):
        paths = [folder, "shared_data/shared_data", f"environments/{folder}"]
        diff = subprocess.run(["git", "diff", "--name-only", base, "HEAD", "--", *paths, *NOT_CODE], cwd=repo,
                              capture_output=True, text=True)
        if diff.returncode != 0:
            notes.append(f"the record's commit {base[:12]} is not in this repository's history")
        elif diff.stdout.strip():
            files = diff.stdout.split()
            notes.append(f"{len(files)} file(s) of {', '.join(paths)} changed between the record's commit "
                         f"{base[:12]} and this checkout ({', '.join(files[:5])}{', ...' if len(files) > 5 else ''})"
                         f": a difference may come from the code")
    return notes


def verify(record_path, *, repo=None, data_root=None, mirrors=(), keep: bool = False, timeout: float | None = None,
           any_machine: bool = False, python=None, echo=print) -> int:
    """Re-make a record and compare; ``echo`` gets the lines to show. Returns 0 (identical), 1 (differs) or 2
    (cannot compare). ``python``: the interpreter to run ``run.py`` with (default: the method's environment)."""
    try:
        return _verify(record_path, repo=Path(repo) if repo else _default_repo(), data_root=data_root,
                       mirrors=mirrors, keep=keep, timeout=timeout, any_machine=any_machine, python=python,
                       echo=echo)
    except CannotCompare as exc:
        echo(f"cannot compare: {exc}")
        return CANNOT_COMPARE


def _verify(record_path, *, repo: Path, data_root, mirrors, keep, timeout, any_machine, python, echo) -> int:
    file, record = load_record(record_path)
    where = file.parent
    if record["schema"] != RESULT_SCHEMA:
        raise CannotCompare(f"{where}: schema {record['schema']}")
    if not record.get("command"):
        raise CannotCompare(f"{where} names no command (made before records named the run.py command that makes "
                            f"them, or by a process that was no run.py): make it again with run.py")
    if not record.get("predictions_sha256"):
        raise CannotCompare(f"{where} has no predictions_sha256 (made before records kept the hash of their "
                            f"predictions): there is nothing to compare bit for bit")
    machine = record.get("machine")
    if machine is None and not any_machine:
        raise CannotCompare(f"{where} names no machine identity (only the device label {record['device']!r}, which "
                            f"does not say what makes its numbers); --any-machine re-runs it anyway")
    folder = record["command"][0].split("/")[0]
    if not (repo / folder / "run.py").is_file():
        raise CannotCompare(f"the record's command runs {record['command'][0]}, which this checkout ({repo}) lacks")
    env = rerun_env((machine or {}).get("env", {}))
    if machine is not None:
        here = identity.describe_machine(environ=env)
        differences = identity.machine_differences(machine, here, MACHINE_PARTS)
        if differences and not any_machine:
            raise CannotCompare("another device: this machine differs from the record's in "
                                + "; ".join(differences) + " (record vs here); numbers made on another machine "
                                "need not agree bit for bit (--any-machine re-runs it anyway)")
    if python is None:
        python = method_python(repo, folder, gpu=bool((machine or {}).get("gpus")))
    elif not Path(python).exists():
        raise CannotCompare(f"--python {python}: no such interpreter")
    python = Path(python).absolute()  # run.py runs in the method folder; never resolved (a venv's python is a link)
    if data_root is None:
        data_root = os.environ.get("SHARED_DATA_ROOT") or repo / "data"
    name = where.name.split("--")[0]
    for note in code_notes(repo, record, folder):
        echo(f"note: {note}")
    tmp = Path(tempfile.mkdtemp(prefix="verify-record-"))
    try:
        args = rerun_args(record, tmp / "out", data_root, mirrors)
        shown = " ".join(identity.portable_args(args))
        echo(f"re-running {folder}/run.py {shown}  (in {tmp}, {python})")
        log = tmp / "run.log"
        with open(log, "wb") as f:
            try:
                p = subprocess.run([str(python), "run.py", *args], cwd=repo / folder, env=env, stdout=f,
                                   stderr=subprocess.STDOUT, timeout=timeout)
            except subprocess.TimeoutExpired:
                raise CannotCompare(f"the re-run took longer than {timeout:g} s (log: {log}); raise --timeout") \
                    from None
        if p.returncode != 0:
            keep = True
            tail = log.read_text(errors="replace").strip().splitlines()[-5:]
            raise CannotCompare(f"the re-run exited {p.returncode} (log kept: {log}):\n    " + "\n    ".join(tail))
        again = find_rerun(tmp / "out", record, name)
        versions = sorted(k for k in set(record["versions"]) | set(again.get("versions", {}))
                          if record["versions"].get(k) != again.get("versions", {}).get(k))
        if versions:
            echo("note: package versions differ from the record's: " + ", ".join(
                f"{k} {record['versions'].get(k)} vs {again['versions'].get(k)}" for k in versions))
        return _compare(record, again, where, echo, any_machine)
    finally:
        if keep:
            echo(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _compare(record: dict, again: dict, where: Path, echo, any_machine: bool = False) -> int:
    same = again.get("predictions_sha256") == record["predictions_sha256"]
    record_id, again_id = record.get("machine_id"), again.get("machine_id")
    if record_id and again_id != record_id:
        differences = identity.machine_differences(record["machine"], again.get("machine") or {})
        if any_machine:
            echo(f"note: the re-run's machine identity {again_id} is not the record's {record_id} ("
                 + "; ".join(differences) + ", record vs re-run)")
        else:
            echo(f"cannot compare: the re-run's machine identity {again_id} is not the record's {record_id} ("
                 + "; ".join(differences) + f", record vs re-run; its predictions "
                 f"{'match' if same else 'do not match'} the record's all the same)")
            return CANNOT_COMPARE
    m, n = record["metrics"], again["metrics"]
    summary = ", ".join(f"{k} {m.get(k)!r} vs {n.get(k)!r}" for k in ("acsa", "accuracy") if k in m)
    if same:
        echo(f"identical: {where}: the re-run's predictions are the record's, bit for bit (predictions_sha256 "
             f"{record['predictions_sha256'][:16]}, machine {record_id or 'not recorded'})")
        return IDENTICAL
    echo(f"differs: {where}: the re-run's predictions are not the record's (predictions_sha256 "
         f"{record['predictions_sha256'][:16]} in the record, {str(again.get('predictions_sha256'))[:16]} now; "
         f"{summary}, record vs re-run)")
    return DIFFERS


def add_parser(sub) -> None:
    """The ``verify-record`` command of ``python -m shared_data``."""
    from .fetch import DEFAULT_DATA_ROOT, MIRROR_ENV

    p = sub.add_parser("verify-record", help="re-run a record's command in a temporary folder and compare its "
                                             "predictions bit for bit (exit 0 identical, 1 differs, 2 cannot "
                                             "compare)")
    p.add_argument("record", help="results/<method>/<run>/ (or its result.json), or a finished run folder")
    p.add_argument("--data-root", default=None,
                   help=f"where dataset files and splits live (default $SHARED_DATA_ROOT, else the repository's "
                        f"{DEFAULT_DATA_ROOT}/)")
    p.add_argument("--mirror", action="append", default=[], help=f"mirror folder (also ${MIRROR_ENV})")
    p.add_argument("--repo", default=None, help="repository root holding the method folders (default: this one)")
    p.add_argument("--python", default=None,
                   help="the interpreter to run run.py with (default: the method's environment, environments/env.sh "
                        "--path <folder>)")
    p.add_argument("--timeout", type=_seconds, default=None, help="give up after this many seconds (> 0)")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (the re-run and its log)")
    p.add_argument("--any-machine", action="store_true",
                   help="re-run even where the machine is not the record's (the answer then says so)")
    p.set_defaults(func=main_from_args)


def main_from_args(args) -> int:
    return verify(args.record, repo=args.repo, data_root=args.data_root, mirrors=args.mirror, keep=args.keep,
                  timeout=args.timeout, any_machine=args.any_machine, python=args.python,
                  echo=lambda line: print(line, flush=True))
