"""Every command the README shows exists: run.py lines parse, make targets resolve (make -n)."""
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_run_commands_parse(monkeypatch):
    sys.path.insert(0, str(ROOT))
    import run as run_py
    from shared_data import skeleton

    monkeypatch.chdir(ROOT)  # the README's commands run from caleg_tf/ (--grid fix_grid.txt)
    lines = [line.split("#")[0].strip() for line in README.splitlines() if line.strip().startswith("python run.py")]
    assert len(lines) >= 3
    for line in lines:
        assert skeleton.commands(run_py.METHOD, shlex.split(line)[2:])  # parses, and every config resolves


def test_readme_make_targets_exist():
    shown = sorted(set(re.findall(r"make (reproduce-caleg-[a-z0-9-]+|bench-caleg)", README)))
    assert shown
    for target in shown:
        p = subprocess.run(["make", "-n", "-C", str(ROOT.parent), target], capture_output=True, text=True,
                           timeout=60)
        assert p.returncode == 0, f"make {target}: {p.stderr.strip()}"
