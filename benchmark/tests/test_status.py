"""`status`: one line per run, with a bar drawn from the run folder's progress file (shared_data.progress)."""
import json
import os
import re
import socket
import time

from benchmark.jobs import process_start, write_state
from shared_data import progress

RUNNING = "alpha_np--alpha--mnist-dgc-split1-seed0-smoke"
FAILED = "alpha_np--alpha--mnist-dgc-split2-seed0-smoke"


def _progress_file(run_dir, **fields):
    now = time.time()
    data = {"schema": progress.SCHEMA, "state": "running", "stage": None, "unit": "epoch", "done": 37, "total": 100,
            "rate_per_s": 0.35, "eta_s": 180.0, "elapsed_s": 105.0, "updated_unix": now - 60,
            "metric": {"name": "acsa", "value": 0.7012, "split": "test", "at": 35},
            "train": {"name": "loss", "value": 1.25}, "host": socket.gethostname(), "pid": os.getpid()}
    data.update(fields)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / progress.FILE_NAME).write_text(json.dumps(data))


def test_status_draws_a_bar_from_each_run_folders_progress_file(repo):
    jobs = repo.runs / "benchmark" / "plan" / "jobs"
    # a run this machine is training now (this test's own process stands in for it), 37 of 100 epochs
    write_state(jobs / f"{RUNNING}.json", state="running", cluster="local", host=socket.gethostname(),
                pid=os.getpid(), pid_start=process_start(os.getpid()))
    _progress_file(repo.runs / "alpha" / "mnist-dgc-alpha-split1-seed0-smoke", stage="gan")
    # a run that failed after 5 epochs, and one whose folder never got a progress file
    write_state(jobs / f"{FAILED}.json", state="failed", cluster="local", returncode=3, stderr_tail="boom")
    _progress_file(repo.runs / "alpha" / "mnist-dgc-alpha-split2-seed0-smoke", done=5, metric=None)

    p = repo.bench("status")
    assert p.returncode == 0, p.stderr
    line = {name: next(row for row in p.stdout.splitlines() if f" {name} " in row) for name in (RUNNING, FAILED)}
    running = line[RUNNING]
    assert running.startswith(f"running  {RUNNING}") and " 37%|" in running and "| 37/100 epochs" in running
    assert re.search(r", ETA 0(1:5\d|2:00), ", running), running  # 180 s at the last update, a minute ago
    assert "acsa 0.7012 (test)" in running and f"stage gan; pid {os.getpid()} on {socket.gethostname()}" in running
    assert line[FAILED].startswith(f"failed   {FAILED}") and "  5%|" in line[FAILED] and "loss" not in line[FAILED]
    never = next(row for row in p.stdout.splitlines() if "beta_np--beta--mnist-dgc-split1-seed0-smoke" in row)
    assert never.startswith("missing ") and "no progress file yet" in never and "never started" in never
    assert "FAILED alpha_np--alpha--mnist-dgc-split2-seed0-smoke: run.py exited 3" in p.stdout  # the details below
    assert p.stdout.rstrip().endswith("plan plan: 0 done, 1 running, 1 failed, 4 missing")
    rows = {row["name"]: row for row in repo.status().values()}
    assert rows[RUNNING]["progress"]["done"] == 37 and rows[FAILED]["progress"]["total"] == 100


def test_a_run_that_logs_through_shared_data_writes_the_file_status_reads(repo):
    """The fake method logs an evaluation and writes its result through RunDir: the progress file is there and
    full, and status draws the published run's bar full."""
    p = repo.bench("run", "--jobs", "2", "--allow-dirty", "--only", "beta_np")
    assert p.returncode == 0, p.stdout + p.stderr
    prog = progress.read(repo.runs / "beta" / "mnist-dgc-beta-split1-seed0-smoke")
    assert prog["state"] == "finished" and prog["unit"] == "step" and prog["metric"]["name"] == "acsa"
    text = repo.bench("status", "--only", "beta_np").stdout
    assert text.count("100%|") == 2 and "ACSA " in text
