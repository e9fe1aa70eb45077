"""A repository in miniature for the runner's tests: two method folders (``alpha_np``, ``beta_np``) whose run.py
is ``fake_run.py``, an ``environments/env.sh`` that names their environment as the real one does, and a plan.

The runner is started as a user starts it (``python -m benchmark`` in a subprocess), so submitit's workers, the
state files and the logs are the real ones; only the methods are fakes.
"""
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
PACKAGE_ROOT = HERE.parents[1]

PLAN = """
description = "two fake methods"
budget = "smoke"
datasets = ["mnist"]
protocol = "dgc"
split_seeds = [1, 2]
seeds = [0]
threads = 2

[slurm]
partition = "gpu"
gpus_per_node = 1
cpus_per_task = 2
mem = "8G"
time = 30
setup = ["module load cuda/12.4"]

[methods.alpha_np]
variant = "alpha"
baseline = { variant = "baseline", args = ["--model", "baseline"] }
slurm = { time = 90 }

[methods.beta_np]
variant = "beta"
"""


class Repo:
    def __init__(self, root: Path):
        self.root = root
        self.control = root / "control"
        self.runs = root / "runs"
        self.results = root / "results"
        self.plan = root / "plan.toml"

    def args(self, *extra) -> list[str]:
        return [*extra, "--repo", str(self.root), "--runs", str(self.runs), "--results", str(self.results),
                "--data-root", str(self.root / "data"), "--paper-tables", str(self.root / "paper_tables")]

    def env(self, **extra) -> dict:
        return dict(os.environ, FAKE_CONTROL=str(self.control), PYTHONPATH=str(PACKAGE_ROOT), **extra)

    def bench(self, command: str, *extra, timeout=240, env=None, **kw) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "benchmark", command, *([str(self.plan)] if command != "report" else []),
               *self.args(*extra)]
        return subprocess.run(cmd, cwd=self.root, capture_output=True, text=True, timeout=timeout,
                              env=env or self.env(), **kw)

    def invocations(self) -> list[dict]:
        path = self.control / "invocations.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def status(self, *extra, env=None) -> dict:
        p = self.bench("status", "--json", *extra, env=env)
        assert p.returncode == 0, p.stderr
        return {row["name"]: row for row in json.loads(p.stdout)}


@pytest.fixture
def repo(tmp_path) -> Repo:
    root = tmp_path / "repo"
    for folder in ("alpha_np", "beta_np"):
        (root / folder).mkdir(parents=True)
        shutil.copy(HERE / "fake_run.py", root / folder / "run.py")
    env_bin = root / ".venvs" / "fake-0123" / "bin"
    env_bin.mkdir(parents=True)
    # the methods' "environment": this Python (it has shared_data), behind the path env.sh prints
    (env_bin / "python").write_text(f"#!/bin/sh\nexec {sys.executable} \"$@\"\n")
    (env_bin / "python").chmod(0o755)
    (env_bin / "activate").write_text("# a virtual environment's activate script\n")
    (root / "environments").mkdir()
    (root / "environments" / "env.sh").write_text(textwrap.dedent("""\
        #!/usr/bin/env bash
        [ "$1" = "--path" ] && shift
        echo ".venvs/fake-0123"
        """))
    (root / "environments" / "env.sh").chmod(0o755)
    (root / "control").mkdir()
    (root / "paper_tables").mkdir()
    (root / "plan.toml").write_text(PLAN)
    return Repo(root)
