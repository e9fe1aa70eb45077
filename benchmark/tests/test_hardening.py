"""Inputs the runner must refuse and stops it must survive: one clear line for each bad flag or plan, and a
SIGTERM that really stops the runs it started."""
import json
import os
import signal
import subprocess
import sys
import time

from benchmark.jobs import alive


def _one_error_line(p):
    lines = [line for line in p.stderr.strip().splitlines() if line.strip()]
    assert p.returncode == 2, p.stdout + p.stderr
    assert "Traceback" not in p.stderr, p.stderr
    return lines[-1]


def test_sigterm_stops_the_runs_it_started_and_says_so(repo):
    """SIGTERM to the runner alone (as `kill PID` sends it): the run.py it started is stopped too, nothing is
    published afterwards, the runner says so in one line and exits 130 without a traceback."""
    block = repo.control / "block-beta-mnist-dgc-beta-split1-seed0-smoke"
    block.touch()
    cmd = [sys.executable, "-m", "benchmark", "run", str(repo.plan), *repo.args("--jobs", "1", "--allow-dirty",
                                                                                "--only", "beta_np")]
    runner = subprocess.Popen(cmd, cwd=repo.root, env=repo.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    record_path = repo.runs / "benchmark" / "plan" / "jobs" / "beta_np--beta--mnist-dgc-split1-seed0-smoke.json"
    started = repo.runs / "beta" / "mnist-dgc-beta-split1-seed0-smoke" / "started"
    deadline = time.time() + 120
    while time.time() < deadline and not (started.exists() and record_path.exists()
                                          and json.loads(record_path.read_text()).get("child_pid")):
        time.sleep(0.1)
    record = json.loads(record_path.read_text())
    assert alive(record["child_pid"], record["child_start"]), "run.py never started"
    runner.send_signal(signal.SIGTERM)
    out, err = runner.communicate(timeout=120)
    assert runner.returncode == 130, out + err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert not alive(record["child_pid"], record["child_start"]), "run.py trains on after the runner stopped"
    assert "interrupted: 1 run(s) stopped" in out, out
    block.unlink()
    time.sleep(1.0)
    assert not (repo.results / "beta").exists(), "a run published after the runner said it had stopped"
    status = repo.status("--only", "beta_np")
    assert status["beta_np--beta--mnist-dgc-split1-seed0-smoke"]["state"] == "missing"


def test_a_stop_that_comes_while_a_job_is_being_submitted_stops_that_job_too(repo, monkeypatch):
    """The signal arrives inside submitit's submit, after the job's processes have started and before the runner
    has recorded the job: that run is stopped like the others, not left to train on and publish."""
    import submitit

    from benchmark import cli

    real_submit = submitit.LocalExecutor.submit

    def submit_then_stop(self, *args, **kwargs):
        job = real_submit(self, *args, **kwargs)
        os.kill(os.getpid(), signal.SIGTERM)
        return job

    block = repo.control / "block-beta-mnist-dgc-beta-split1-seed0-smoke"
    block.touch()
    monkeypatch.setattr(submitit.LocalExecutor, "submit", submit_then_stop)
    for key, value in repo.env().items():
        if os.environ.get(key) != value:
            monkeypatch.setenv(key, value)
    monkeypatch.chdir(repo.root)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        code = cli.main(["run", str(repo.plan), *repo.args("--jobs", "1", "--allow-dirty", "--only", "beta_np")])
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert code == 130
    record_path = repo.runs / "benchmark" / "plan" / "jobs" / "beta_np--beta--mnist-dgc-split1-seed0-smoke.json"
    deadline = time.time() + 15  # time enough for a worker left behind to start run.py
    while time.time() < deadline and not json.loads(record_path.read_text()).get("child_pid"):
        time.sleep(0.1)
    record = json.loads(record_path.read_text())
    assert not alive(record.get("child_pid"), record.get("child_start")), "run.py runs on after the stop"
    block.unlink()
    time.sleep(1.0)
    assert not (repo.results / "beta").exists()


def test_a_count_that_is_not_positive_is_refused(repo):
    for flags, message in ((("--jobs", "-1"), "argument --jobs: expected a positive integer, got -1"),
                           (("--jobs", "0"), "argument --jobs: expected a positive integer, got 0"),
                           (("--poll", "nan"), "argument --poll: expected a finite number, got 'nan'"),
                           (("--poll", "0"), "argument --poll: expected a number of seconds > 0, got '0'")):
        p = repo.bench("run", *flags, timeout=60)
        assert message in _one_error_line(p), p.stderr
    assert repo.invocations() == []


def test_a_plan_whose_only_method_folder_is_misspelt_is_an_error_naming_it(repo):
    repo.plan.write_text('budget = "smoke"\ndatasets = ["mnist"]\nprotocol = "dgc"\nsplit_seeds = [1]\n'
                         '[methods.betta_np]\nvariant = "beta"\n')
    for command in ("run", "status"):
        line = _one_error_line(repo.bench(command, timeout=60))
        assert "betta_np" in line and "no method folder" in line, line
    assert repo.invocations() == []


def test_a_plan_name_that_would_lead_outside_the_state_folder_is_refused(repo, tmp_path):
    repo.plan.write_text(repo.plan.read_text().replace('datasets = ["mnist"]', 'datasets = ["../../../escape"]'))
    p = repo.bench("run", timeout=60)
    line = _one_error_line(p)
    assert "datasets" in line and "'../../../escape' is not a plain name" in line, line
    assert not list(tmp_path.rglob("*escape*"))


def test_slurm_tools_missing_from_path_is_one_line(repo):
    path = os.pathsep.join(d for d in os.environ["PATH"].split(os.pathsep)
                           if not any(os.path.exists(os.path.join(d, t)) for t in ("sbatch", "srun")))
    p = repo.bench("run", "--cluster", "slurm", "--allow-dirty", env=repo.env(PATH=path), timeout=60)
    line = _one_error_line(p)
    assert line == "error: --cluster slurm: sbatch and srun not on PATH (run on a Slurm login node, or use " \
                   "--cluster local)", line


def test_report_refuses_a_missing_results_or_paper_tables_folder_before_touching_the_readme(repo, tmp_path):
    from benchmark import results

    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{results.README_START}\nthe tables\n{results.README_END}\n")
    before = readme.read_text()
    (repo.results / "benchmark").mkdir(parents=True)
    for flag, misspelt in (("--paper-tables", repo.root / "papr"), ("--results", repo.root / "resluts")):
        args = [*repo.args(), "--readme", str(readme)]
        args[args.index(flag) + 1] = str(misspelt)
        message = f"{flag} {misspelt}: no such folder"
        p = subprocess.run([sys.executable, "-m", "benchmark", "report", *args], cwd=repo.root, env=repo.env(),
                           capture_output=True, text=True, timeout=120)
        assert message in _one_error_line(p)
    assert readme.read_text() == before
