"""The fix table: the variant of every committed result, and the same variant from flags and from the config."""
import json
from pathlib import Path

import pytest

import run as run_py
from dgc.config import apply_args, load_config
from fixes import FIXES, OVERRIDE_NAMES, PAPER_METHOD, variant_of

ROOT = Path(__file__).resolve().parents[1]
RESULTS = sorted((ROOT.parent / "results" / "dgc").glob("**/result.json"))


def config_from_flags(*flags, dataset="mnist", budget="quick"):
    args = run_py.build_parser().parse_args(["--dataset", dataset, "--budget", budget, *flags])
    return apply_args(load_config(dataset, budget), args)


def test_committed_results_have_a_variant():
    assert RESULTS, "no committed DGC result"
    for path in RESULTS:
        result = json.loads(path.read_text())
        v = variant_of(result["config"])
        assert v.name.split("+")[0].split(" ")[0] == "dgc", (path, v.name)
        fixed = {k: result["config"][k] for k in v.fixes}
        assert v.fixes == fixed
        # the records written so far ran the released code's behaviour: they must come out faithful
        if result["config"].get("variant") == "dgc":
            assert v.faithful and v.name == "dgc", (path, v)
        # a new run with the same flags (none) names the same variant
        again = config_from_flags(dataset=result["dataset"], budget=result["budget"])
        assert variant_of(again).name == v.name


def test_flags_and_config_give_one_variant():
    v = variant_of(config_from_flags())
    assert v.faithful and v.name == "dgc" and v.fixes == {}
    v = variant_of(config_from_flags("--ce-reduction", "mean", "--lr-schedule-cumulative", "--report-epoch", "3"))
    assert not v.faithful
    assert v.fixes == {"ce_reduction": "mean", "lr_schedule_cumulative": True, "report_epoch": 3}
    assert v.name.startswith("dgc+") and "ce-reduction=mean" in v.name and "lr-schedule-cumulative" in v.name
    # a hyper-parameter override names the base, never a fix; a value equal to the config's is no override
    v = variant_of(config_from_flags("--lambda", "10", "--zdim", "64", "--inference-mmd", "off"))
    assert v.name.startswith("dgc lambda=10+") and "zdim" not in v.name and "inference-mmd=off" in v.name
    assert v.fixes == {"inference_mmd": "off"}
    # the original's test batch follows the training batch (batch_size // 10)
    assert config_from_flags("--batch-size", "50")["test_batch_size"] == 5
    assert config_from_flags()["test_batch_size"] == 10
    # the test subset is recorded by the split, not by the variant
    assert variant_of(config_from_flags("--test-subset", "7")).name == "dgc"


def test_no_short_tag_reaches_the_run_name():
    cfg = config_from_flags("--aug-count-rule", "paper", "--decode-oversampled", "--epochs", "100")
    name = variant_of(cfg).name
    for tag in ("augpaper", "decaug", "ep100", "cemean", "lrcum", "clsadam", "lvomain", "mmdoff"):
        assert tag not in name
    assert "aug-count-rule=paper" in name and "decode-oversampled" in name and "epochs=100" in name


def test_table_is_complete():
    assert PAPER_METHOD == "DGC"
    keys = [f.key for f in FIXES]
    assert len(keys) == len(set(keys)) == 9
    cfg = load_config("mnist", "full")
    assert all(k in cfg for k in keys)
    for f in FIXES:
        assert "L" in f.original and ".py" in f.original, f.key  # the released code's file and line
    with pytest.raises(ValueError):
        variant_of(dict(cfg, overrides={"gamma": 1}))
    assert set(OVERRIDE_NAMES) >= {"epochs", "lambda", "zdim"}
