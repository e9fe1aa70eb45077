"""The local engine end to end on fake methods: what runs, what is skipped, what a failure says, and a killed run."""
import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd

from shared_data import records

NAMES = ["alpha_np--alpha--mnist-dgc-split1-seed0-smoke", "alpha_np--alpha--mnist-dgc-split2-seed0-smoke",
         "alpha_np--baseline--mnist-dgc-split1-seed0-smoke", "alpha_np--baseline--mnist-dgc-split2-seed0-smoke",
         "beta_np--beta--mnist-dgc-split1-seed0-smoke", "beta_np--beta--mnist-dgc-split2-seed0-smoke"]


def _runs(repo):
    return sorted(p.parent.relative_to(repo.runs) for p in repo.runs.glob("*/*/result.json"))


def test_a_plan_runs_each_job_once_publishes_it_and_a_second_run_starts_nothing(repo):
    p = repo.bench("run", "--jobs", "2", "--allow-dirty")
    assert p.returncode == 0, p.stdout + p.stderr
    calls = repo.invocations()
    assert sorted(c["run"] for c in calls) == sorted(
        f"{m}-mnist-dgc-{v}-split{s}-seed0-smoke" for m, v in (("alpha", "alpha"), ("alpha", "baseline"),
                                                              ("beta", "beta")) for s in (1, 2))
    assert max(c["concurrent"] for c in calls) <= 2, "more jobs ran at once than --jobs allows"
    assert {json.dumps(c["threads"]) for c in calls} == {json.dumps({"OMP_NUM_THREADS": "2",
                                                                     "TF_NUM_INTRAOP_THREADS": "2"})}
    for run_dir in _runs(repo):  # every run folder and every published copy passes the shared validators
        records.validate_run_dir(repo.runs / run_dir)
        records.validate_result(json.loads((repo.results / run_dir / "result.json").read_text()))
    assert {row["state"] for row in repo.status().values()} == {"done"}
    assert sorted(repo.status()) == sorted(NAMES)

    csv = pd.read_csv(repo.results / "benchmark" / "plan.csv")
    assert len(csv) == 6 and set(csv["role"]) == {"method", "baseline"}
    published = json.loads((repo.results / "alpha" / "mnist-dgc-alpha-split2-seed0-smoke" / "result.json").read_text())
    row = csv[(csv["variant"] == "alpha") & (csv["split_seed"] == 2)].iloc[0]
    assert abs(row["acsa"] - published["metrics"]["acsa"]) < 1e-7
    assert json.loads(row["per_class_recall"]) == published["metrics"]["per_class_recall"]
    assert (repo.results / "benchmark" / "plan_per_class_recall.png").stat().st_size > 0

    again = repo.bench("run", "--jobs", "2", "--allow-dirty")
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(repo.invocations()) == 6, "a published run was started again"
    assert again.stdout.count("skip   ") == 6 and "start  " not in again.stdout


def test_a_failed_job_reports_its_stderr_and_the_command_and_the_others_go_on(repo):
    (repo.control / "fail-beta-mnist-dgc-beta-split1-seed0-smoke").touch()
    p = repo.bench("run", "--jobs", "2", "--allow-dirty", "--only", "beta_np")
    assert p.returncode == 1
    failed = "beta_np--beta--mnist-dgc-split1-seed0-smoke"
    assert f"FAILED {failed}: run.py exited 2" in p.stdout
    assert "error: the fake method fails on purpose" in p.stdout
    rerun = next(line for line in p.stdout.splitlines() if line.strip().startswith("re-run:"))
    assert f"cd {repo.root / 'beta_np'} && OMP_NUM_THREADS=2 " in rerun and "run.py --dataset mnist --protocol dgc " \
        "--split-seed 1 --seed 0 --budget smoke" in rerun and f"--publish {repo.results}" in rerun
    states = {name: row["state"] for name, row in repo.status("--only", "beta_np").items()}
    assert states == {failed: "failed", "beta_np--beta--mnist-dgc-split2-seed0-smoke": "done"}
    status = repo.bench("status", "--only", "beta_np")
    assert "error: the fake method fails on purpose" in status.stdout and "re-run: cd " in status.stdout

    # the re-run command, pasted into a shell as the report says, runs that one job
    (repo.control / "fail-beta-mnist-dgc-beta-split1-seed0-smoke").unlink()
    by_hand = subprocess.run(["bash", "-c", rerun.split("re-run:", 1)[1]], env=repo.env(), capture_output=True,
                             text=True, timeout=120)
    assert by_hand.returncode == 0, by_hand.stderr
    assert {row["state"] for row in repo.status("--only", "beta_np").values()} == {"done"}


def test_a_killed_benchmark_run_rerun_finishes_only_what_is_missing(repo):
    """The runner and everything it started are SIGKILLed while the second job is half-way; the next run skips
    the published first job, resumes the second in its run folder and runs the rest, each once."""
    block = repo.control / "block-alpha-mnist-dgc-alpha-split2-seed0-smoke"
    block.touch()
    cmd = [sys.executable, "-m", "benchmark", "run", str(repo.plan), *repo.args("--jobs", "1", "--allow-dirty",
                                                                                "--only", "alpha_np")]
    proc = subprocess.Popen(cmd, cwd=repo.root, env=repo.env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not any(
                c["run"] == "alpha-mnist-dgc-alpha-split2-seed0-smoke" for c in repo.invocations()):
            time.sleep(0.1)
        started = repo.runs / "alpha" / "mnist-dgc-alpha-split2-seed0-smoke" / "started"
        while time.time() < deadline and not started.exists():
            time.sleep(0.1)
        assert started.exists(), "the second job never started"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the runner, submitit's processes and run.py at once
        proc.wait()
    block.unlink()
    status = repo.status("--only", "alpha_np")
    assert status["alpha_np--alpha--mnist-dgc-split1-seed0-smoke"]["state"] == "done"
    assert status["alpha_np--alpha--mnist-dgc-split2-seed0-smoke"]["state"] == "missing"
    first = (repo.runs / "alpha" / "mnist-dgc-alpha-split1-seed0-smoke" / "result.json").read_text()

    p = repo.bench("run", "--jobs", "1", "--allow-dirty", "--only", "alpha_np")
    assert p.returncode == 0, p.stdout + p.stderr
    calls = [c["run"] for c in repo.invocations()]
    assert calls.count("alpha-mnist-dgc-alpha-split1-seed0-smoke") == 1, calls
    assert calls.count("alpha-mnist-dgc-alpha-split2-seed0-smoke") == 2, calls
    assert calls.count("alpha-mnist-dgc-baseline-split1-seed0-smoke") == 1, calls
    assert calls.count("alpha-mnist-dgc-baseline-split2-seed0-smoke") == 1, calls
    second_attempt = [c for c in repo.invocations() if c["run"] == "alpha-mnist-dgc-alpha-split2-seed0-smoke"][1]
    assert second_attempt["resumed"], "the interrupted run was not continued in its own run folder"
    assert (repo.runs / "alpha" / "mnist-dgc-alpha-split1-seed0-smoke" / "result.json").read_text() == first
    assert {row["state"] for row in repo.status("--only", "alpha_np").values()} == {"done"}


def test_a_job_still_running_from_an_earlier_runner_is_waited_for_not_started_twice(repo):
    """The runner alone is killed (its jobs go on): a new run waits for the live job instead of starting it."""
    block = repo.control / "block-beta-mnist-dgc-beta-split1-seed0-smoke"
    block.touch()
    cmd = [sys.executable, "-m", "benchmark", "run", str(repo.plan), *repo.args("--jobs", "1", "--allow-dirty",
                                                                                "--only", "beta_np")]
    first = subprocess.Popen(cmd, cwd=repo.root, env=repo.env(), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    started = repo.runs / "beta" / "mnist-dgc-beta-split1-seed0-smoke" / "started"
    deadline = time.time() + 120
    while time.time() < deadline and not started.exists():
        time.sleep(0.1)
    first.kill()  # SIGKILL to the runner only: submitit's worker and run.py keep going
    first.wait()
    assert repo.status("--only", "beta_np")["beta_np--beta--mnist-dgc-split1-seed0-smoke"]["state"] == "running"
    second = subprocess.Popen(cmd, cwd=repo.root, env=repo.env(), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    seen = []
    for line in second.stdout:  # the new runner says it waits for the live job; only then may the job end
        seen.append(line)
        if line.startswith("wait   ") or line.startswith("plan "):
            break
    block.unlink()
    out = "".join(seen) + second.communicate(timeout=120)[0]
    assert second.returncode == 0, out
    assert "wait   beta_np--beta--mnist-dgc-split1-seed0-smoke: already running" in out
    calls = [c["run"] for c in repo.invocations()]
    assert calls.count("beta-mnist-dgc-beta-split1-seed0-smoke") == 1, calls
    assert calls.count("beta-mnist-dgc-beta-split2-seed0-smoke") == 1, calls
