"""The fix table: the variant of every committed result, and the same variant from flags and from the config;
the config modules in the shared shape, resolved through ``shared_data.config`` (an unknown key is refused)."""
import importlib
import json
from pathlib import Path

import pytest
from shared_data import errors, skeleton, variants

import configs.mnist
import run as run_py
from dgc import config
from fixes import FIXES, OVERRIDE_NAMES, PAPER_METHOD, variant_of

ROOT = Path(__file__).resolve().parents[1]
RESULTS = sorted((ROOT.parent / "results" / "dgc").glob("**/result.json"))


def config_from_flags(*flags, dataset="mnist", budget="quick"):
    args = skeleton.build_parser(run_py.METHOD).parse_args(["--dataset", dataset, "--budget", budget, *flags])
    return run_py.configure(args)


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
    cfg = config.resolve(configs.mnist, "full")
    assert all(k in cfg for k in keys)
    for f in FIXES:
        assert "L" in f.original and ".py" in f.original, f.key  # the released code's file and line
    with pytest.raises(ValueError):
        variant_of(dict(cfg, overrides={"gamma": 1}))
    assert set(OVERRIDE_NAMES) >= {"epochs", "lambda", "zdim"}


def test_every_config_module_has_the_shared_shape_with_the_fixes_at_their_released_behaviour():
    faithful = variants.values({}, FIXES)
    assert sorted(p.stem for p in (Path(configs.mnist.__file__).parent).glob("[a-z]*.py")) == sorted(config.DATASETS)
    for dataset in config.DATASETS:
        module = importlib.import_module(f"configs.{dataset}")
        assert {k: module.CONFIG[k] for k in faithful} == faithful, dataset
        for budget in ("smoke", "quick", "full"):
            cfg = config.resolve(module, budget)
            assert cfg["budget"] == budget and cfg["dataset"] == dataset and cfg["overrides"] == {}
            assert set(cfg) == set(module.CONFIG) | {"budget", "overrides"}, dataset
            assert variant_of(cfg).name == "dgc"


def test_a_misspelt_or_unknown_config_key_is_refused():
    with pytest.raises(errors.ConfigError, match="unknown config key 'epoch_nun'.*did you mean 'epoch_num'"):
        config.resolve(configs.mnist, "quick", fixes={"epoch_nun": 3})
    with pytest.raises(errors.ConfigError, match="unknown config key 'ce_reductio'"):
        config.resolve(configs.mnist, "full", fixes={"ce_reductio": "mean"})
    with pytest.raises(errors.ConfigError, match="unknown hyper-parameter flag 'epoch'"):
        config.resolve(configs.mnist, "full", flags={"epoch": 3})
    # a budget naming a key CONFIG does not have is refused too, for every budget
    bad = {"__name__": "configs.bad", "CONFIG": configs.mnist.CONFIG,
           "BUDGETS": dict(configs.mnist.BUDGETS, smoke={"epoch_numb": 1})}
    with pytest.raises(errors.ConfigError, match="BUDGETS\\['smoke'\\].*'epoch_numb'"):
        config.resolve(bad, "quick")
    # an impossible value is refused by the checks after resolving
    with pytest.raises(errors.ConfigError, match="report_epoch 4 is not an evaluated epoch"):
        config.resolve(configs.mnist, "quick", fixes={"report_epoch": 4})
    assert config.resolve(configs.mnist, "quick", flags={"epochs": 4}, fixes={"report_epoch": 4})["overrides"] \
        == {"epochs": 4}
