import argparse

import pytest

from shared_data import variants
from shared_data.variants import Fix

TABLE = (Fix("cls_loss", "mse", choices=("mse", "ce"), help="M's loss", original="MSE (gamo.py L10)"),
         Fix("separate_optimizers", False, help="one Adam per player", original="one shared Adam"),
         Fix("fashion_transpose", True, flag="--no-fashion-transpose", help="keep row-major images"),
         Fix("cov_ridge", 0.0, help="ridge | eps", original="none"),
         Fix("report_epoch", None, type=int, help="report this epoch"))


def _parse(argv):
    p = argparse.ArgumentParser()
    variants.add_arguments(p, TABLE)
    return variants.values(p.parse_args(argv), TABLE)


def test_flags_come_from_the_table_and_default_to_the_released_code():
    assert _parse([]) == {"cls_loss": "mse", "separate_optimizers": False, "fashion_transpose": True,
                          "cov_ridge": 0.0, "report_epoch": None}
    vals = _parse(["--cls-loss", "ce", "--separate-optimizers", "--no-fashion-transpose", "--cov-ridge", "1e-3",
                   "--report-epoch", "2"])
    assert vals == {"cls_loss": "ce", "separate_optimizers": True, "fashion_transpose": False, "cov_ridge": 0.001,
                    "report_epoch": 2}
    with pytest.raises(SystemExit):
        _parse(["--cls-loss", "hinge"])


def test_the_variant_names_each_fix_by_its_flag():
    assert variants.resolve(_parse([]), TABLE, "gamo") == variants.Variant("gamo", True, {})
    v = variants.resolve(_parse(["--cls-loss", "ce", "--no-fashion-transpose", "--cov-ridge", "0.001"]), TABLE,
                         "gamo")
    assert v.name == "gamo+cls-loss=ce+no-fashion-transpose+cov-ridge=0.001"
    assert not v.faithful and v.fixes == {"cls_loss": "ce", "fashion_transpose": False, "cov_ridge": 0.001}
    assert variants.values({"cls_loss": None}, TABLE)["cls_loss"] == "mse"  # an unset override is the default
    with pytest.raises(ValueError, match="without"):
        variants.resolve({}, TABLE, "gamo+x")


def test_the_readme_table_is_generated_and_replaced(tmp_path):
    table = variants.markdown_table(TABLE)
    assert "| `--cls-loss {mse,ce}` (default `mse`) | MSE (gamo.py L10) | M's loss |" in table
    assert "| `--separate-optimizers` | one shared Adam | one Adam per player |" in table
    assert "| `--cov-ridge RIDGE` (default `0`) | none | ridge \\| eps |" in table
    readme = tmp_path / "README.md"
    readme.write_text("# m\n<!-- fixes:start -->\nold\n<!-- fixes:end -->\nend\n")
    assert variants.write_readme(readme, TABLE) is True
    assert variants.readme_section(readme.read_text()) == table
    assert variants.write_readme(readme, TABLE) is False and readme.read_text().endswith("end\n")
    (tmp_path / "none.md").write_text("# m\n")
    with pytest.raises(ValueError, match="no fixes section"):
        variants.write_readme(tmp_path / "none.md", TABLE)


def test_a_fix_table_is_loaded_from_its_file(tmp_path):
    f = tmp_path / "toy_np" / "fixes.py"
    f.parent.mkdir()
    f.write_text("from shared_data.variants import Fix, resolve, values\n"
                 "FIXES = (Fix('a', False, help='x'),)\nPAPER_METHOD = 'TOY'\n"
                 "def variant_of(config):\n    return resolve(values(config, FIXES), FIXES, 'toy')\n")
    table = variants.load_table(f)
    assert table.variant_of({"a": True}).name == "toy+a" and table.PAPER_METHOD == "TOY"
    (tmp_path / "bad.py").write_text("FIXES = ()\n")
    with pytest.raises(ValueError, match="does not define PAPER_METHOD"):
        variants.load_table(tmp_path / "bad.py")
