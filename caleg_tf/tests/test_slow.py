"""A whole quick-budget run (about 20 min on 2 idle cores): ``pytest -m slow tests``."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from shared_data.records import validate_result

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_quick_budget_mnist(tmp_path):
    cmd = [sys.executable, str(ROOT / "run.py"), "--dataset", "mnist", "--budget", "quick", "--out", str(tmp_path),
           "--data-root", str(tmp_path / "data"), "--no-progress"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=4 * 3600)
    assert p.returncode == 0, p.stderr[-3000:]
    run = tmp_path / "caleg" / "mnist-dgc-r1-split1-seed1-quick"
    result = validate_result(json.loads((run / "result.json").read_text()))
    assert result["n_test"] == 10000 and not result["extra"]["test_subsampled"]
    log = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [(r["phase"], r["steps"]) for r in log] == [(1, 90), (2, 25), (2, 25)]
