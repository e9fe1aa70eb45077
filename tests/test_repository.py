"""Repository-level checks: environment files agree with each other, README commands exist in the Makefile."""
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUBPROJECTS = ("gamo_keras", "dgc_tf", "caleg_tf", "imsic_torch", "dfg_torch")


def _pins(sub):
    lines = (ROOT / "environments" / sub / "requirements.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith(("#", "--"))]


@pytest.mark.parametrize("sub", SUBPROJECTS)
def test_every_requirement_is_pinned_and_the_conda_file_points_at_it(sub):
    pins = _pins(sub)
    assert pins and all(re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[0-9][0-9A-Za-z.+]*", p) for p in pins), pins
    yml = (ROOT / "environments" / sub / "environment.yml").read_text()
    assert re.search(rf"^name: {sub}$", yml, re.M)
    assert "- python=3.11" in yml and "- -r requirements.txt" in yml and "../../shared_data" in yml


def test_frameworks_sharing_an_environment_pin_the_same_set():
    assert _pins("gamo_keras") == _pins("dgc_tf") == _pins("caleg_tf")
    assert _pins("imsic_torch") == _pins("dfg_torch")
    shared = {p for p in _pins("gamo_keras") if not p.startswith(("tensorflow", "keras", "tf-", "jax"))}
    assert shared == {p for p in _pins("imsic_torch") if not p.startswith("torch")}


def _readme_make_targets():
    text = (ROOT / "README.md").read_text()
    return sorted(set(re.findall(r"^\s*make ([a-z][a-z0-9-]*)", text, re.M)) |
                  set(re.findall(r"`make ([a-z][a-z0-9-]*)`", text)))


def test_readme_commands_are_makefile_targets():
    targets = _readme_make_targets()
    assert "test" in targets and "report" in targets
    for target in targets:
        p = subprocess.run(["make", "-n", "-C", str(ROOT), target], capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, f"make {target}: {p.stderr.strip()}"


def test_the_readme_results_section_is_what_the_committed_results_give():
    """The top-level results table is generated: it must match results/**/result.json (run `make report`)."""
    from shared_data import report

    text = (ROOT / "README.md").read_text()
    start, end = text.index(report.README_START), text.index(report.README_END)
    section = text[start + len(report.README_START):end].strip()
    expected = report.build_report(ROOT / "results", ROOT / "paper_tables").strip()
    assert section.startswith(expected), "README.md results are stale: run `make report` and commit"
    assert (ROOT / "results" / "README.md").read_text().strip().startswith(expected)
