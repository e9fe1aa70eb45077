"""The fix table: variant names of committed results and of new runs, the README's generated flag table."""
import ast
import json
import shlex
import sys
from pathlib import Path

import pytest

from shared_data import variants

ROOT = Path(__file__).resolve().parents[1]
RESULTS = sorted((ROOT.parent / "results" / "caleg").glob("**/result.json"))
sys.path.insert(0, str(ROOT))

import fixes  # noqa: E402
import run as run_py  # noqa: E402
from shared_data import skeleton  # noqa: E402


def parse(argv):
    return skeleton.build_parser(run_py.METHOD).parse_args(argv)

# The flags behind each tag of the run names and variant strings of the first result records
# (`caleg-r1+tc2+cg`, ...): what a new run needs on its command line to train the same variant.
V1_TAGS = {"tc2": ["--train-classifier-phase2"], "cg": ["--classify-generated"], "cemean": ["--ce-reduction", "mean"],
           "gprs": ["--gp-real-resample"], "sepopt": ["--separate-optimizers"], "noevn": ["--no-eval-noise"],
           "rro": ["--refit-real-only"], "dcfg": ["--critic-use-d-config"], "shuf": ["--reshuffle-each-epoch"]}


def v1_flags(v1_variant: str) -> list[str]:
    base, *tags = v1_variant.split("+")
    flags = ["--aug-rate", "0" if base == "caleg-noaug" else base[len("caleg-r"):]]
    for tag in tags:
        if tag.startswith("ridge"):
            flags += ["--cov-ridge", tag[len("ridge"):]]
        else:
            flags += V1_TAGS[tag]
    return flags


def test_fixes_module_imports_only_shared_data_variants():
    tree = ast.parse((ROOT / "fixes.py").read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported |= {node.module} if node.module != "shared_data" else {f"shared_data.{a.name}" for a in node.names}
    assert imported - {"__future__"} == {"shared_data.variants"}


def test_every_fix_is_a_config_key_with_the_faithful_default():
    from configs import get_config

    cfg = get_config("mnist", "full")
    defaults = variants.values({}, fixes.FIXES)
    assert {k: cfg[k] for k in defaults} == defaults
    v = fixes.variant_of(cfg)
    assert v.name == "caleg r=1" and v.faithful and v.fixes == {}


@pytest.mark.parametrize("aug_rate, base", [(1.0, "caleg r=1"), (2.0, "caleg r=2"), (0.5, "caleg r=0.5"),
                                            (0.0, "caleg no-aug"), (-1.0, "caleg no-aug")])
def test_base_names_the_aug_rate(aug_rate, base):
    assert fixes.base_name(aug_rate) == base


def test_variant_names_carry_flag_names_not_tags():
    args = parse(["--train-classifier-phase2", "--classify-generated", "--cov-ridge", "0.001"])
    v = fixes.variant_of(run_py.configure(args))
    assert not v.faithful and v.fixes == {"train_classifier_phase2": True, "classify_generated": True,
                                          "cov_ridge": 0.001}
    assert v.name.startswith("caleg r=1+") and "train-classifier-phase2" in v.name and "cov-ridge=0.001" in v.name
    assert not {"tc2", "cg", "ridge0.001"} & set(v.name.replace("=", "+").split("+"))


@pytest.mark.skipif(not RESULTS, reason="no committed CaLeG results in this checkout")
@pytest.mark.parametrize("path", RESULTS, ids=lambda p: p.parent.name)
def test_committed_results_name_the_variant_a_new_run_with_the_same_flags_gets(path):
    result = json.loads(path.read_text())
    v = fixes.variant_of(result["config"])
    assert v.name.startswith(("caleg r=", "caleg no-aug"))
    old = result.get("variant", "")
    if old.startswith("caleg-"):  # a first-schema record: its variant string holds the short tags
        assert v.faithful == ("+" not in old)
        old_base = old.split("+")[0]
        assert v.name.split("+")[0] == ("caleg no-aug" if old_base == "caleg-noaug" else
                                        "caleg r=" + old_base[len("caleg-r"):])
        assert len(v.fixes) == len(old.split("+")) - 1  # one fix per tag
        args = parse(["--dataset", result["dataset"], "--budget", result["budget"]] + v1_flags(old))
    else:
        assert v.name == old and v.faithful == result["faithful"]
        args = None
    if args is not None:
        new = fixes.variant_of(run_py.configure(args))
        assert (new.name, new.faithful, new.fixes) == (v.name, v.faithful, v.fixes)


def test_fix_grid_names_distinct_variants():
    base = ["--imbalance", "1", "--aug-rate", "1", "--budget", "quick", "--seeds", "1,2,3"]
    todo = skeleton.commands(run_py.METHOD, base + ["--grid", str(ROOT / "fix_grid.txt")])
    names = [fixes.variant_of(cfg).name for _, cfg in todo]
    assert names[0] == "caleg r=1" and "caleg no-aug" in names and "caleg r=2" in names
    assert len(names) == len(set(names)) == 13  # faithful, no augmentation, r = 2 and 10 fix variants
    assert all(a.grid is None and a.seeds == [1, 2, 3] and a.budget == "quick" for a, _ in todo)


def test_readme_fix_table_is_the_generated_one():
    text = (ROOT / "README.md").read_text()
    assert text.count("<!-- fixes:start") == 1 and text.count("<!-- fixes:end -->") == 1
    assert variants.readme_section(text) == variants.markdown_table(fixes.FIXES)
