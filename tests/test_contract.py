"""One contract for every method: the smoke plan, run by the benchmark runner, gives each folder a valid run folder.

`benchmark/plans/smoke.toml` holds one smoke-budget MNIST run per method folder. The runner starts each one as a
user would (`<folder's environment>/bin/python run.py ...` in the folder, through submitit's local processes,
real MNIST files from the data mirror, a fresh data root), once for the whole session. Each run folder is then
checked by the same validator that guards `results/`: `result.json` (schema v2), `predictions.npz` (labels and
probabilities that give the result's confusion matrix), `metrics.jsonl` (evaluation records in the shared shape).
The same run.py command run again must report the finished run, not train a second one, and the same plan run
again must start nothing. Each published smoke record must be made again bit for bit by `python -m shared_data
verify-record` (the check `make verify-record` runs on a committed record).
"""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from shared_data import records

ROOT = Path(__file__).resolve().parents[1]
METHODS = sorted(p.parent.name for p in ROOT.glob("*_*/run.py"))


def _env_dir(folder: str) -> Path:
    path = subprocess.run([str(ROOT / "environments" / "env.sh"), "--path", folder], capture_output=True,
                          text=True, check=True, cwd=ROOT, env=dict(os.environ)).stdout.strip()
    return Path(path) if Path(path).is_absolute() else ROOT / path


class Smoke:
    def __init__(self, root: Path):
        self.root = root
        self.python = _env_dir("benchmark") / "bin" / "python"

    def bench(self, command: str, *extra: str, timeout: int = 3600) -> subprocess.CompletedProcess:
        """``python -m benchmark <command> smoke`` in its own process group. ``timeout`` only guards against a
        hang (a loaded machine runs the plan much slower than an idle one); on it the runner and every process
        it started are stopped, so nothing keeps running after the test."""
        cmd = [str(self.python), "-m", "benchmark", command, "smoke", "--runs", str(self.root / "runs"),
               "--data-root", str(self.root / "data"), "--results", str(self.root / "results"), *extra]
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", MPLBACKEND="Agg")
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for sig, grace in ((signal.SIGTERM, 120), (signal.SIGKILL, 10)):  # SIGTERM: run.py checkpoints
                try:
                    os.killpg(proc.pid, sig)
                    proc.communicate(timeout=grace)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    pass
            raise
        return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


@pytest.fixture(scope="session")
def smoke(tmp_path_factory):
    """The smoke plan, once: every method folder's run.py at the smoke budget, published into a temporary
    results folder (--allow-dirty: a working tree under test may hold uncommitted changes)."""
    s = Smoke(tmp_path_factory.mktemp("smoke"))
    if not s.python.exists():
        pytest.skip("the benchmark environment is not built (make env-benchmark)")
    s.first = s.bench("run", "--allow-dirty")
    plan = s.bench("plan", "--json", "--allow-dirty")
    assert plan.returncode == 0, plan.stderr
    s.jobs = {job["folder"]: job for job in json.loads(plan.stdout)}
    return s


def test_the_smoke_plan_runs_every_method_through_the_benchmark_runner(smoke):
    p = smoke.first
    assert p.returncode == 0, f"exit {p.returncode}\n{p.stdout[-6000:]}\n{p.stderr[-3000:]}"
    assert sorted(smoke.jobs) == METHODS, "every method folder has its run in benchmark/plans/smoke.toml"
    status = smoke.bench("status", "--json")
    assert {row["state"] for row in json.loads(status.stdout)} == {"done"}, status.stdout
    csv = (smoke.root / "results" / "benchmark" / "smoke.csv").read_text().splitlines()
    assert len(csv) == 1 + len(METHODS), "one CSV row per run"


@pytest.mark.parametrize("folder", METHODS)
def test_every_run_py_writes_a_valid_run_folder_at_the_smoke_budget(folder, smoke):
    job = smoke.jobs[folder]
    method = folder.split("_")[0]
    found = sorted((smoke.root / "runs").glob(f"{method}/*/result.json"))
    assert len(found) == 1, f"{folder}: expected one finished run folder, found {found}\n{smoke.first.stdout[-4000:]}"
    run_dir = found[0].parent
    result = records.validate_run_dir(run_dir)
    assert result["budget"] == "smoke" and result["dataset"] == "mnist" and result["variant"] == job["variant"]
    assert (result["split_seed"], result["seed"], result["protocol"]) == (job["split_seed"], job["seed"],
                                                                          job["protocol"])
    assert result["faithful"] is True and result["fixes"] == {}, "the default run is the released code's behaviour"
    assert result["device"] == records.describe_device(), "one device string for every method on one machine"
    config = json.loads((run_dir / "config.json").read_text())
    assert config, "the resolved config is saved in the run folder"
    published = smoke.root / "results" / method / run_dir.name / "result.json"
    assert json.loads(published.read_text())["created_utc"] == result["created_utc"], "published as run.py does"

    # the job's own command again, as `make reproduce-*` would re-run it: it reports the finished run
    again = subprocess.run(job["command"], cwd=job["cwd"], capture_output=True, text=True, timeout=900,
                           env=dict(os.environ, **job["env"], TF_CPP_MIN_LOG_LEVEL="2", MPLBACKEND="Agg"))
    assert again.returncode == 0, f"{folder}: re-run failed\n{again.stderr[-2000:]}"
    assert sorted((smoke.root / "runs").glob(f"{method}/*/result.json")) == found, "a re-run made a second folder"
    assert json.loads(found[0].read_text())["created_utc"] == result["created_utc"], "a re-run trained again"


def test_the_same_plan_run_again_starts_nothing(smoke):
    again = smoke.bench("run", "--allow-dirty", timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.count("skip   ") == len(METHODS) and "start  " not in again.stdout


def test_every_method_folder_is_covered():
    assert {"gamo_keras", "dgc_tf", "caleg_tf"} <= set(METHODS), METHODS


@pytest.mark.parametrize("folder", METHODS)
def test_smoke_predictions_are_bit_identical_to_the_golden_ones(folder, smoke):
    """Every array of the smoke run's predictions.npz hashes to what the same run gave before the run code was
    restructured (tests/golden_smoke.py), on a machine with the same identity; other machines have no golden."""
    import golden_smoke

    method = folder.split("_")[0]
    pred = next((smoke.root / "runs").glob(f"{method}/*/predictions.npz"))
    machine_id = json.loads((pred.parent / "result.json").read_text())["machine_id"]
    golden = golden_smoke.load().get(machine_id, {}).get(f"{method}/{pred.parent.name}")
    if golden is None:
        pytest.skip(f"no golden smoke predictions for machine {machine_id} "
                    f"(python tests/golden_smoke.py record <runs folder>, from a commit known to be right)")
    assert golden_smoke.array_digests(pred) == golden, f"{folder}: smoke predictions changed"


@pytest.mark.parametrize("folder", METHODS)
def test_verify_record_makes_every_smoke_record_again_bit_for_bit(folder, smoke):
    """The published smoke record of each method, re-made by its own command in a temporary folder: the
    predictions must hash to the record's (exit 0, "identical")."""
    method = folder.split("_")[0]
    found = sorted((smoke.root / "results").glob(f"{method}/*/result.json"))
    assert len(found) == 1, f"{folder}: expected one published smoke record, found {found}"
    p = subprocess.run([sys.executable, "-m", "shared_data", "verify-record", str(found[0].parent), "--data-root",
                        str(smoke.root / "data"), "--timeout", "900"], cwd=ROOT, capture_output=True, text=True,
                       env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", MPLBACKEND="Agg"), timeout=1200)
    assert p.returncode == 0, f"{folder}: verify-record exited {p.returncode}\n{p.stdout[-3000:]}\n{p.stderr[-2000:]}"
    assert "identical:" in p.stdout, p.stdout
