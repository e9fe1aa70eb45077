"""Every config loads at every budget; the budgets differ only where they say; README commands are targets."""
import re
from pathlib import Path

import pytest

from gamo import config

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("dataset", ["mnist", "fashion", "cifar10", "svhn"])
def test_configs_load_at_every_budget(dataset):
    full = config.load(dataset, "full")
    assert full.max_step == 50000 and full.total_iterations == 25000  # the released schedule
    assert (full.batch_size, full.latent_dim, full.learning_rate, full.beta_1) == (32, 100, 2e-4, 0.5)
    assert (full.eval_every_steps, full.save_every_steps) == (500, 5000)
    quick = config.load(dataset, "quick")
    assert quick.max_step == 5000
    for key in ("batch_size", "latent_dim", "learning_rate", "ctmu_units", "mlp_units", "cls_loss", "adv_loss"):
        assert getattr(quick, key) == getattr(full, key)
    config.load(dataset, "smoke")


def test_baseline_counts_one_step_per_iteration():
    cfg = config.load("mnist", "full", model="baseline")
    assert cfg.total_iterations == 50000


def test_bad_config_values_are_refused():
    with pytest.raises(ValueError, match="multiple of 2"):
        config.load("mnist", "full", max_step=7)
    with pytest.raises(ValueError, match="unknown config keys"):
        config.load("mnist", "full", not_a_key=1)
    with pytest.raises(ValueError, match="joint_feature_training"):
        config.load("mnist", "full", joint_feature_training=True)


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
    """Each REPRODUCE line is this folder, then arguments that run.py's parser accepts."""
    import run

    lines = re.findall(r"^REPRODUCE\.([a-z0-9-]+) := (\S+) (.*)$", (ROOT / "targets.mk").read_text(), flags=re.M)
    assert {name for name, _, _ in lines} >= {"gamo-mnist", "gamo-fmnist", "gamo-mnist-dgc", "gamo-fmnist-dgc"}
    for name, folder, argv in lines:
        assert folder == "gamo_keras", name
        argv = argv.replace("$(GAMO_SEED)", "0").replace("$(GAMO_DGC_SPLIT_SEED)", "1").split()
        run.resolve(run.build_parser().parse_args(argv))
