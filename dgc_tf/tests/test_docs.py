"""Every ``make`` command in the README is a target of targets.mk, and every fix flag is in the README table."""
import re
from pathlib import Path

from dgc.config import FIXES

ROOT = Path(__file__).resolve().parents[1]


def test_readme_make_commands_exist():
    readme = (ROOT / "README.md").read_text()
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):", (ROOT / "targets.mk").read_text(), re.M))
    used = set(re.findall(r"make ([a-z][a-z0-9-]*)", readme)) - {"test", "report"}
    assert used and used <= targets, used - targets
    assert {"reproduce-dgc-mnist", "reproduce-dgc-fmnist", "reproduce-dgc-svhn", "reproduce-dgc-mnist-quick",
            "reproduce-dgc-fmnist-quick", "reproduce-dgc-svhn-quick", "bench-dgc"} <= targets


def test_every_fix_flag_is_documented():
    readme = (ROOT / "README.md").read_text()
    for key in FIXES:
        assert f"--{key.replace('_', '-')}" in readme, key
