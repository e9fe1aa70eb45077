"""Every config resolves at every budget; the budgets differ only where they say; an unknown key is refused; README
commands are targets."""
import importlib
import re
from pathlib import Path

import pytest
from shared_data import errors, skeleton
from shared_data.config import resolve

from conftest import load_config
from fixes import FIXES
from gamo import config

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ("mnist", "fashion", "cifar10", "svhn")


def _module(dataset):
    return importlib.import_module(f"configs.{dataset}")


@pytest.mark.parametrize("dataset", DATASETS)
def test_configs_load_at_every_budget(dataset):
    full = load_config(dataset, "full")
    assert full.max_step == 50000 and full.total_iterations == 25000  # the released schedule
    assert (full.batch_size, full.latent_dim, full.learning_rate, full.beta_1) == (32, 100, 2e-4, 0.5)
    assert (full.eval_every_steps, full.save_every_steps) == (500, 5000)
    quick = load_config(dataset, "quick")
    assert quick.max_step == 5000
    for key in ("batch_size", "latent_dim", "learning_rate", "ctmu_units", "mlp_units", "cls_loss", "adv_loss"):
        assert getattr(quick, key) == getattr(full, key)
    assert load_config(dataset, "smoke").max_step == 40


@pytest.mark.parametrize("dataset", DATASETS)
def test_every_config_key_is_read_and_every_read_key_is_in_the_config(dataset):
    """CONFIG holds every constant GamoConfig reads (plus the budget resolve adds), no more; the fixes' values in
    it are the released ones (the fix table's defaults)."""
    module = _module(dataset)
    for budget in ("full", "quick", "smoke"):
        assert set(resolve(module, budget)) == set(config.FIELDS)
    assert {f.key: module.CONFIG[f.key] for f in FIXES} == {f.key: f.default for f in FIXES}
    assert set(module.BUDGETS) == {"quick", "smoke"}


def test_baseline_counts_one_step_per_iteration():
    cfg = load_config("mnist", "full", model="baseline")
    assert cfg.total_iterations == 50000


def test_bad_config_values_are_refused():
    with pytest.raises(errors.ConfigError, match="multiple of 2"):
        load_config("mnist", "full", max_step=7)
    with pytest.raises(errors.ConfigError, match="joint_feature_training"):
        load_config("mnist", "full", joint_feature_training=True)
    with pytest.raises(errors.ConfigError, match="cls_loss 'l1'"):
        load_config("mnist", "full", cls_loss="l1")


def test_a_misspelt_or_unknown_config_key_is_refused():
    with pytest.raises(errors.ConfigError, match="unknown config key 'max_stpe'.*did you mean 'max_step'"):
        load_config("mnist", "full", max_stpe=8)
    with pytest.raises(errors.ConfigError, match="unknown config key 'not_a_key'"):
        load_config("fashion", "quick", not_a_key=1)
    # a budget that names a key CONFIG does not have is refused too, not silently added
    module = {"__name__": "configs.mnist", "CONFIG": _module("mnist").CONFIG,
              "BUDGETS": {"smoke": {"eval_every_step": 20}}}
    with pytest.raises(errors.ConfigError, match="eval_every_step.*did you mean 'eval_every_steps'"):
        resolve(module, "smoke")
    # a config without a key GamoConfig reads is refused by name
    cfg = resolve(_module("mnist"), "full")
    del cfg["latent_dim"]
    with pytest.raises(errors.ConfigError, match="latent_dim"):
        config.of(cfg)


def test_the_resolved_config_is_what_run_py_saves():
    import run

    args = skeleton.build_parser(run.METHOD).parse_args(["--dataset", "fmnist", "--budget", "smoke", "--max-step",
                                                         "30", "--no-xla", "--cls-loss", "ce"])
    cfg = run.configure(args)
    assert (cfg["dataset"], cfg["budget"], cfg["max_step"], cfg["xla"], cfg["cls_loss"]) == \
        ("fashion", "smoke", 30, False, "ce")
    assert cfg["eval_every_steps"] == 20 and cfg["model"] == "gamo"  # the smoke budget's and CONFIG's values
    assert config.of(cfg).to_dict() == dict(cfg, image_shape=[28, 28, 1], ctmu_units=[256, 64], mlp_units=[256, 128])


def test_readme_make_commands_are_targets():
    readme = (ROOT / "README.md").read_text()
    mk = (ROOT / "targets.mk").read_text()
    targets = set(re.findall(r"^([a-z0-9-]+):", mk, flags=re.M))
    targets |= {f"reproduce-{name}" for name in re.findall(r"^REPRODUCE\.([a-z0-9-]+) :=", mk, flags=re.M)}
    root_makefile = ROOT.parent / "Makefile"  # the repository's own targets (test, report, benchmark, ...)
    targets |= set(re.findall(r"^([a-z0-9-]+):", root_makefile.read_text(), flags=re.M))
    used = set(re.findall(r"`make ([a-z0-9_-]+)(?=[ `])", readme))  # `make reproduce-*` is no command
    assert used and used - {"env-gamo_keras"} <= targets


def test_reproduce_targets_are_run_py_commands():
    """Each REPRODUCE line is this folder, then arguments that run.py's parser accepts and its config resolves."""
    import run

    lines = re.findall(r"^REPRODUCE\.([a-z0-9-]+) := (\S+) (.*)$", (ROOT / "targets.mk").read_text(), flags=re.M)
    assert {name for name, _, _ in lines} >= {"gamo-mnist", "gamo-fmnist", "gamo-mnist-dgc", "gamo-fmnist-dgc"}
    for name, folder, argv in lines:
        assert folder == "gamo_keras", name
        argv = argv.replace("$(GAMO_SEED)", "0").replace("$(GAMO_DGC_SPLIT_SEED)", "1").split()
        assert skeleton.commands(run.METHOD, argv), name
