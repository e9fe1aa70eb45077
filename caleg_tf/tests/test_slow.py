"""A whole quick-budget run (about 12-25 min on 2 CPU cores): ``pytest -m slow tests``."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_quick_budget_mnist(tmp_path):
    cmd = [sys.executable, str(ROOT / "run.py"), "--dataset", "mnist", "--budget", "quick", "--out", str(tmp_path),
           "--data-root", str(tmp_path / "data"), "--no-progress"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=4 * 3600)
    assert p.returncode == 0, p.stderr[-3000:]
    run = next((tmp_path / "caleg").iterdir())
    result = json.loads((run / "result.json").read_text())
    assert result["eval_subset"] == "full" and sum(map(sum, result["metrics"]["confusion_matrix"])) == 10000
    log = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in log if r.get("kind") != "eval"]
    assert [(r["phase"], r["steps"]) for r in train] == [(1, 90), (2, 25), (2, 25)]
