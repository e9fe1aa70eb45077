"""One contract for every method: `run.py --budget smoke` in the folder's own environment writes a valid run folder.

Each method folder is run as a user runs it (a subprocess of its environment's Python, real MNIST files from the
data mirror, a fresh data root), and the run folder is checked by the same validator that guards `results/`:
`result.json` (schema v2), `predictions.npz` (labels and probabilities that give the result's confusion matrix),
`metrics.jsonl` (evaluation records in the shared shape). The same command run again must report the finished
run, not train a second one.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared_data import records

ROOT = Path(__file__).resolve().parents[1]
METHODS = sorted(p.parent.name for p in ROOT.glob("*_*/run.py"))


def _python(folder: str) -> str:
    env_dir = subprocess.run([str(ROOT / "environments" / "env.sh"), "--path", folder], capture_output=True,
                             text=True, check=True, cwd=ROOT, env=dict(os.environ)).stdout.strip()
    python = (ROOT / env_dir / "bin" / "python") if not Path(env_dir).is_absolute() else Path(env_dir) / "bin/python"
    if not python.exists():
        pytest.skip(f"{folder}'s environment is not built (make env-{folder})")
    return str(python)


def _run(folder, tmp_path):
    cmd = [_python(folder), "run.py", "--dataset", "mnist", "--budget", "smoke", "--out", str(tmp_path / "runs"),
           "--data-root", str(tmp_path / "data"), "--no-progress"]
    env = dict(os.environ, OMP_NUM_THREADS="2", TF_CPP_MIN_LOG_LEVEL="2", MPLBACKEND="Agg")
    return subprocess.run(cmd, cwd=ROOT / folder, capture_output=True, text=True, timeout=900, env=env)


@pytest.mark.parametrize("folder", METHODS)
def test_every_run_py_writes_a_valid_run_folder_at_the_smoke_budget(folder, tmp_path):
    first = _run(folder, tmp_path)
    assert first.returncode == 0, f"{folder}: exit {first.returncode}\n{first.stdout[-2000:]}\n{first.stderr[-3000:]}"
    found = sorted((tmp_path / "runs").glob("*/*/result.json"))
    assert len(found) == 1, f"{folder}: expected one finished run folder, found {found}"
    run_dir = found[0].parent
    result = records.validate_run_dir(run_dir)
    assert result["budget"] == "smoke" and result["dataset"] == "mnist"
    assert result["faithful"] is True and result["fixes"] == {}, "the default run is the released code's behaviour"
    assert result["device"] == records.describe_device(), "one device string for every method on one machine"
    config = json.loads((run_dir / "config.json").read_text())
    assert config, "the resolved config is saved in the run folder"
    again = _run(folder, tmp_path)
    assert again.returncode == 0, f"{folder}: re-run failed\n{again.stderr[-2000:]}"
    assert sorted((tmp_path / "runs").glob("*/*/result.json")) == found, "a re-run made a second run folder"
    assert json.loads(found[0].read_text())["created_utc"] == result["created_utc"], "a re-run trained again"


def test_every_method_folder_is_covered():
    assert {"gamo_keras", "dgc_tf", "caleg_tf"} <= set(METHODS), METHODS
