"""The fix table: flags, variant names (new runs and every committed result) and the README's flag table."""
import json
from pathlib import Path

import pytest
from shared_data import records, skeleton, variants

import fixes
import run as run_py
from fixes import FIXES

ROOT = Path(__file__).resolve().parents[1]
RESULTS = sorted((ROOT.parent / "results" / "gamo").glob("**/result.json"))


def _config_of(argv):
    """The config.json a new run with these flags would write (what variant_of reads)."""
    args = _parse(argv)
    return dict(run_py.configure(args), protocol=args.protocol)


def _parse(argv):
    return skeleton.build_parser(run_py.METHOD).parse_args(argv)


def _flags(variant):
    """Command-line flags that set a variant's fixes."""
    by_key = {f.key: f for f in FIXES}
    out = []
    for key, value in variant.fixes.items():
        f = by_key[key]
        out += [f.option] if isinstance(f.default, bool) else [f.option, str(value)]
    return out


def test_every_fix_is_a_flag_with_its_key_as_dest():
    args = _parse(["--dataset", "mnist"])
    assert variants.values(args, FIXES) == {f.key: f.default for f in FIXES}
    args = _parse(["--dataset", "fashion", "--no-fashion-transpose", "--cls-loss", "ce", "--gamo2pix-shuffle-bug",
                   "--separate-optimizers"])
    v = variants.values(args, FIXES)
    assert (v["fashion_transpose"], v["cls_loss"], v["gamo2pix_keep_order"], v["separate_optimizers"]) == \
        (False, "ce", False, True)


def test_faithful_runs_are_named_by_their_model():
    for argv, name in ((["--dataset", "mnist"], "gamo"), (["--dataset", "fashion", "--model", "baseline"], "baseline"),
                       (["--dataset", "fashion", "--gamo2pix-shuffle-bug", "--vae-logvar-consistent"], "gamo")):
        v = fixes.variant_of(_config_of(argv))
        assert (v.name, v.faithful, v.fixes) == (name, True, {})


def test_corrections_name_the_variant_and_the_run_folder():
    cfg = _config_of(["--dataset", "fashion", "--no-fashion-transpose", "--cls-loss", "ce", "--adv-loss", "bce",
                      "--joint-feature-training"])
    v = fixes.variant_of(cfg)
    assert not v.faithful
    assert v.name == "gamo+no-fashion-transpose+joint-feature-training+cls-loss=ce+adv-loss=bce"
    assert v.fixes == {"fashion_transpose": False, "joint_feature_training": True, "cls_loss": "ce",
                       "adv_loss": "bce"}
    folder = records.run_name("fashion", "gamo", 0, 0, "full", variant=v.name)
    assert "cls-loss" in folder and "clsloss-ce" not in folder  # the flag's own name, no short tag
    b = fixes.variant_of(_config_of(["--dataset", "mnist", "--model", "baseline", "--separate-optimizers"]))
    assert b.name == "baseline+separate-optimizers"


def test_gamo2pix_settings_name_the_gamo2pix_stage_only():
    cfg = _config_of(["--dataset", "fashion", "--gamo2pix-shuffle-bug"])
    assert fixes.variant_of(cfg).name == "gamo"
    assert fixes.gamo2pix_variant(cfg).name == "gamo2pix+gamo2pix-shuffle-bug"
    assert fixes.gamo2pix_variant(_config_of(["--dataset", "fashion", "--cls-loss", "ce"])).name == "gamo2pix"


def test_corrections_that_cannot_apply_are_refused():
    for argv in (["--dataset", "mnist", "--no-fashion-transpose"],
                 ["--dataset", "mnist", "--model", "baseline", "--adv-loss", "bce"],
                 ["--dataset", "mnist", "--model", "baseline", "--fake-bn-mode", "train"],
                 ["--dataset", "mnist", "--joint-feature-training"]):
        with pytest.raises(ValueError):
            _config_of(argv)


@pytest.mark.skipif(not RESULTS, reason="no committed GAMO result")
@pytest.mark.parametrize("path", RESULTS, ids=lambda p: p.parent.name)
def test_committed_results_resolve_like_a_new_run_with_the_same_flags(path):
    result = json.loads(path.read_text())
    cfg = result["config"]
    v = fixes.variant_of(cfg)
    base = "baseline" if cfg.get("model") == "baseline" else "gamo"
    assert v.name.split("+")[0] == base
    # faithful exactly when every setting that reaches the classifier is the released one
    released = all(cfg.get(f.key, f.default) == f.default for f in FIXES if f.key not in fixes.GAMO2PIX_KEYS
                   and not (f.key == "fashion_transpose" and cfg.get("dataset") != "fashion"))
    assert v.faithful == released and v.faithful == (not v.fixes)
    if "faithful" in result:  # a v2 record says it itself
        assert (result["variant"], result["faithful"], result["fixes"]) == (v.name, v.faithful, v.fixes)
    argv = ["--dataset", cfg["dataset"], "--model", cfg.get("model", "gamo"), "--budget", cfg["budget"]] + _flags(v)
    assert fixes.variant_of(_config_of(argv)) == v


def test_readme_flag_table_is_generated_from_fixes():
    section = variants.readme_section((ROOT / "README.md").read_text())
    assert section is not None, "README.md has no fixes section"
    assert section == variants.markdown_table(FIXES), \
        "run: python -m shared_data fixes gamo_keras/fixes.py --write-readme gamo_keras/README.md"


def test_fix_table_names_the_released_code():
    assert fixes.PAPER_METHOD == "GAMO"
    assert fixes.paper_method_of(_config_of(["--dataset", "mnist", "--cls-loss", "ce"])) == "GAMO"
    assert fixes.paper_method_of(_config_of(["--dataset", "mnist", "--model", "baseline"])) is None
    for f in FIXES:
        assert f.help and f.original and ".py` L" in f.original, f.key  # file and line of the released code
