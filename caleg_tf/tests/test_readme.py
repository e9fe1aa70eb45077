"""Every command the README shows exists: run.py lines parse, make targets resolve (make -n)."""
import re
import subprocess
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
    shown = sorted(set(re.findall(r"make (reproduce-caleg-[a-z0-9-]+|bench-caleg)", README)))
    assert shown
    for target in shown:  # targets.mk makes its targets from a template: ask make itself
        p = subprocess.run(["make", "-n", "-C", str(ROOT.parent), target], capture_output=True, text=True,
                           timeout=60)
        assert p.returncode == 0, f"make {target}: {p.stderr.strip()}"


def test_fix_grid_lines_parse_and_name_distinct_runs():
    sys.path.insert(0, str(ROOT))
    import run as run_py
    from caleg.train import variant_name

    base = ["--imbalance", "1", "--aug-rate", "1", "--budget", "quick", "--seeds", "1,2,3"]
    variants = []
    for line in (ROOT / "fix_grid.txt").read_text().splitlines():
        flags = line.split("#")[0].strip()
        if not flags:
            continue
        args = run_py.parse_args(base + ([] if flags == "-" else shlex.split(flags)))
        variants.append(variant_name(run_py.build_config(args)))
    assert variants[0] == "caleg-r1" and "caleg-noaug" in variants
    assert len(variants) == len(set(variants)) == 13  # faithful, no augmentation, 11 fix variants
