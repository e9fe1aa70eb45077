"""Every command the README shows exists: run.py lines parse, make targets are defined in targets.mk."""
import re
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_run_commands_parse():
    sys.path.insert(0, str(ROOT))
    import run as run_py

    lines = [line.split("#")[0].strip() for line in README.splitlines() if line.strip().startswith("python run.py")]
    assert len(lines) >= 10
    for line in lines:
        args = run_py.parse_args(shlex.split(line)[2:])
        run_py.build_config(args)  # the config resolves (valid fix values)
        run_py.seed_list(args)


def test_readme_make_targets_exist():
    targets = set(re.findall(r"^([a-z0-9-]+):", (ROOT / "targets.mk").read_text(), re.M))
    shown = set(re.findall(r"make (reproduce-caleg-[a-z0-9-]+|bench-caleg)", README))
    assert shown and shown <= targets, shown - targets
