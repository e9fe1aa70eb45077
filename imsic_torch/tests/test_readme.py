"""The README's generated fix table is current, and every make command it names exists in targets.mk."""
import re
from pathlib import Path

from shared_data import variants

import fixes

ROOT = Path(__file__).resolve().parents[1]


def test_fix_table_is_generated_from_fixes_py():
    text = (ROOT / "README.md").read_text()
    assert variants.readme_section(text) == variants.markdown_table(fixes.FIXES)
    assert "<!-- variants:start" in text and "<!-- variants:end -->" in text


def test_readme_make_commands_exist():
    text = (ROOT / "README.md").read_text()
    targets = set(re.findall(r"^REPRODUCE\.([a-z0-9-]+) :=", (ROOT / "targets.mk").read_text(), re.M))
    named = set(re.findall(r"make reproduce-([a-z0-9-]+)", text))
    assert named and named <= targets, named - targets
    assert "bench-imsic:" in (ROOT / "targets.mk").read_text()


def test_variant_names():
    base = {f.key: f.default for f in fixes.FIXES}
    assert fixes.variant_of(dict(base, model="imsic", category_map="auto", lambda_con=0.15)).name == "imsic"
    v = fixes.variant_of(dict(base, model="imsic", category_map="hardcoded", structure_loss="positive"))
    assert v.name == "imsic map=hardcoded+structure-loss=positive" and not v.faithful
    # the baseline trains no GAN: GAN-side fixes do not name it
    v = fixes.variant_of(dict(base, model="baseline", single_softmax=True, reshuffle_each_epoch=True))
    assert v.name == "baseline+reshuffle-each-epoch"
