"""Repository-level checks: environment files agree with each other, README commands exist in the Makefile."""
import json
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUBPROJECTS = ("gamo_keras", "dgc_tf", "caleg_tf", "imsic_torch", "dfg_torch")
ENVIRONMENTS = SUBPROJECTS + ("benchmark",)  # the benchmark runner has its own environment too


def _pins(sub):
    lines = (ROOT / "environments" / sub / "requirements.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith(("#", "--"))]


@pytest.mark.parametrize("sub", ENVIRONMENTS)
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
    # the runner reads results with the same shared_data dependencies, and imports no framework
    assert shared <= set(_pins("benchmark"))
    assert not any(p.startswith(("tensorflow", "keras", "tf-", "jax", "torch")) for p in _pins("benchmark"))


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


def test_the_readme_results_sections_are_what_the_committed_results_give():
    """The results tables are generated: README.md's section and each method README's variants section must be what
    results/**/result.json give (run `make report` and commit)."""
    from shared_data import report

    text, per_method = report.build(ROOT / "results", ROOT / "paper_tables")
    readme = (ROOT / "README.md").read_text()
    start, end = readme.index(report.README_START), readme.index(report.README_END)
    section = readme[start + len(report.README_START):end].strip()
    assert section.startswith(text.strip()), "README.md results are stale: run `make report` and commit"
    assert (ROOT / "results" / "README.md").read_text().startswith(text)
    for method, path in report.method_readmes(ROOT).items():
        body = path.read_text()
        expected = per_method.get(method, report.method_section(method))
        assert f"{report.VARIANTS_START}\n{expected}{report.VARIANTS_END}" in body, \
            f"{path.relative_to(ROOT)}: variants section is stale: run `make report` and commit"


def test_committed_results_are_schema_v2_and_name_their_variant_from_the_fix_table():
    from shared_data import migrate, records, variants

    found = sorted((ROOT / "results").glob("*/*/result.json"))
    assert found
    for path in found:
        r = records.validate_result(json.loads(path.read_text()))
        table = migrate.method_table(ROOT, r["method"])
        v = table.variant_of(r["config"])
        assert (v.name, v.faithful) == (r["variant"], r["faithful"]), path
        assert path.parent.name.split("--")[0] == migrate.target_name(path.parent.name, r).split("--")[0], path
        # Every record published on the v2 contract has its training log beside it; a few v1 records were
        # published before logs were, and say so (migrated_from).
        assert (path.parent / "metrics.jsonl").exists() or r.get("migrated_from"), \
            f"{path.parent}: no training log beside the result"


@pytest.mark.parametrize("folder", [p.parent.name for p in sorted(ROOT.glob("*_*/fixes.py"))])
def test_method_readme_flag_table_is_generated_from_its_fix_table(folder):
    from shared_data import variants

    table = variants.load_table(ROOT / folder / "fixes.py")
    section = variants.readme_section((ROOT / folder / "README.md").read_text())
    assert section == variants.markdown_table(table.FIXES), \
        f"run: python -m shared_data fixes {folder}/fixes.py --write-readme {folder}/README.md"


# Notes kept outside the repository are not for readers of it: code and docs say things in their own words.
OUTSIDE_REFERENCES = re.compile(r"spec §|spec section|Faithful #|shared/specs|specs/[a-z_]+\.md|/work/|"
                                r"(?<![\w/])(gamo|dgc|caleg|imsic|dfg|protocols|environments)\.md\b")


def test_no_reference_outside_the_repository():
    files = subprocess.run(["git", "ls-files", "*.py", "*.md", "*.mk", "Makefile", "*.txt", "*.toml", "*.ini",
                            "*.yml", "results/*.json"],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    hits = []
    for name in files:
        if name == "tests/test_repository.py":
            continue
        for n, line in enumerate((ROOT / name).read_text(errors="replace").splitlines(), 1):
            if OUTSIDE_REFERENCES.search(line):
                hits.append(f"{name}:{n}: {line.strip()[:100]}")
    assert not hits, "references outside the repository:\n" + "\n".join(hits[:40])
