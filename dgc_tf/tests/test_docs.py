"""The README: every ``make`` command is a target, the fixes section is the fix table, no reference outside the
repository."""
import re
from pathlib import Path

from shared_data import variants

from fixes import FIXES

ROOT = Path(__file__).resolve().parents[1]


def targets() -> set[str]:
    """This folder's targets (targets.mk) and the repository's own (the top-level Makefile: test, report,
    verify-record, ...)."""
    mk = (ROOT / "targets.mk").read_text()
    rules = set(re.findall(r"^([a-z][a-z0-9-]*):", mk + "\n" + (ROOT.parent / "Makefile").read_text(), re.M))
    reproduce = {f"reproduce-{n}" for n in re.findall(r"^REPRODUCE\.([a-z0-9-]+)\s*:=\s*dgc_tf\s", mk, re.M)}
    return rules | reproduce


def test_readme_make_commands_exist():
    readme = (ROOT / "README.md").read_text()
    used = set(re.findall(r"make ([a-z][a-z0-9-]*)", readme))
    assert used and used <= targets(), used - targets()
    assert {"reproduce-dgc-mnist", "reproduce-dgc-fmnist", "reproduce-dgc-svhn", "reproduce-dgc-mnist-quick",
            "reproduce-dgc-fmnist-quick", "reproduce-dgc-svhn-quick", "bench-dgc"} <= targets()


def test_readme_fixes_section_is_the_table():
    readme = (ROOT / "README.md").read_text()
    section = variants.readme_section(readme)
    assert section is not None, "README has no fixes section"
    assert section == variants.markdown_table(FIXES)
    assert "<!-- variants:start" in readme and "<!-- variants:end -->" in readme


def test_no_reference_outside_the_repository():
    # the patterns are assembled so that this file does not match them itself
    patterns = ["spec \u00a7", "Faithful " + "#", "shared/" + "specs", "specs" + "/", "spec " + "section",
                "(" + "spec"]
    hits = []
    for path in ROOT.rglob("*"):
        if path.is_file() and path.suffix in (".py", ".md", ".mk", ".txt", ".toml", ".cfg"):
            text = path.read_text(errors="replace")
            hits += [f"{path.relative_to(ROOT)}: {pat}" for pat in patterns if pat in text]
    assert not hits, hits
