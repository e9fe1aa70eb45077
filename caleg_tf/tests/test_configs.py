"""The config shape: each dataset's ``CONFIG`` (full budget) and ``BUDGETS``, resolved by ``shared_data.config``
with the command line's values; an unknown key, a misspelt override and a value no flag checks are refused."""
import pytest

from shared_data.errors import ConfigError

import configs
from configs import get_config

DATASETS = ("mnist", "fashion", "cifar10", "svhn")


@pytest.mark.parametrize("dataset", DATASETS)
def test_every_budget_resolves_to_the_schedule_it_documents(dataset):
    full, quick, smoke = (get_config(dataset, b) for b in ("full", "quick", "smoke"))
    assert (full["budget"], quick["budget"], smoke["budget"]) == ("full", "quick", "smoke")
    assert full["epochs"] == full["epoch_num"] == (80 if dataset == "svhn" else 50)
    assert (full["refit_every"], full["steps_per_epoch"], full["phase2_steps_per_epoch"]) == (5, None, None)
    assert full["test_per_class"] is None and full["e_pretrain_steps"] == 200 and full["aug_rate"] == 1.0
    assert (quick["epochs"], quick["refit_every"], quick["e_pretrain_steps"]) == (3, 1, 5)
    assert quick["phase2_steps_per_epoch"] == (25 if dataset in ("mnist", "fashion") else 50)
    assert {k: quick[k] for k in full if k not in configs.QUICK and k not in ("phase2_steps_per_epoch", "budget")} \
        == {k: full[k] for k in full if k not in configs.QUICK and k not in ("phase2_steps_per_epoch", "budget")}
    assert {k: smoke[k] for k in configs.SMOKE} == configs.SMOKE
    assert full["dataset"] == dataset and set(full) == set(quick) == set(smoke)


def test_overrides_win_and_none_leaves_a_value():
    cfg = get_config("mnist", "smoke", aug_rate=2.0, cov_ridge=1e-3, report_epoch=None)
    assert (cfg["aug_rate"], cfg["cov_ridge"], cfg["report_epoch"], cfg["epochs"]) == (2.0, 1e-3, None, 2)


def test_a_misspelt_override_is_refused_naming_the_key_it_meant():
    with pytest.raises(ConfigError, match=r"unknown config key 'e_num_filter' \(did you mean 'e_num_filters'\?\)"):
        get_config("mnist", "smoke", e_num_filter=8)
    with pytest.raises(ConfigError, match="unknown config key 'stop_after_epoch'"):
        get_config("mnist", "full", stop_after_epoch=1)


def test_a_budget_naming_an_unknown_key_is_refused(monkeypatch):
    from configs import mnist

    monkeypatch.setitem(mnist.BUDGETS, "smoke", {**mnist.BUDGETS["smoke"], "epoch": 1})
    with pytest.raises(ConfigError, match=r"BUDGETS\['smoke'\].*unknown config key 'epoch'"):
        get_config("mnist", "full")


def test_an_unknown_dataset_or_budget_is_refused():
    with pytest.raises(ConfigError, match="no config for dataset 'celeba'"):
        get_config("celeba")
    with pytest.raises(ConfigError, match="no 'tiny' budget"):
        get_config("mnist", "tiny")


@pytest.mark.parametrize("key, value, message", [
    ("val_fraction", 1.0, "val_fraction must be in [0, 1), got 1.0"),
    ("cov_ridge", -1.0, "cov_ridge must be >= 0, got -1.0"),
    ("ce_reduction", "median", "ce_reduction must be 'sum' or 'mean', got 'median'"),
])
def test_values_no_flag_checks_are_refused(key, value, message):
    with pytest.raises(ConfigError) as exc:
        get_config("mnist", "smoke", **{key: value})
    assert str(exc.value) == message


def test_a_refused_config_ends_the_command_with_one_line_before_anything_runs(tmp_path, capsys):
    import run as run_py

    out = tmp_path / "out"
    assert run_py.main(["--budget", "smoke", "--val-fraction", "1", "--out", str(out), "--data-root",
                        str(tmp_path / "data")]) == 2
    assert capsys.readouterr().err == "error: val_fraction must be in [0, 1), got 1.0\n"
    assert not out.exists()
