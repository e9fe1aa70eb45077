"""The command line: the done-when counts, and one clear line with a non-zero exit for each kind of bad input."""
import os
import shutil
import subprocess
import sys

import pytest


def _run(*args, env_extra=None, cwd=None):
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "shared_data", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=300)


def test_split_command_prints_the_counts(tmp_path, mirror):
    p = _run("split", "--dataset", "fashion", "--protocol", "gamo", "--split-seed", "0", "--data-root",
             str(tmp_path), env_extra={"SHARED_DATA_MIRROR": str(mirror)})
    assert p.returncode == 0, p.stderr
    assert "[4000, 2000, 1000, 750, 500, 350, 200, 100, 60, 40]" in p.stdout
    assert (tmp_path / "splits" / "fashion-gamo-s0" / "train.csv").exists()


@pytest.mark.parametrize("case", ["unknown_dataset", "impossible_count", "corrupt_file", "wrong_checksum"])
def test_bad_input_exits_nonzero_with_one_line(case, tmp_path, mirror):
    root = tmp_path / "root"
    args = ["split", "--dataset", "mnist", "--protocol", "dgc", "--data-root", str(root), "--no-download"]
    env = {"SHARED_DATA_MIRROR": str(mirror)}
    if case == "unknown_dataset":
        args[2] = "imagenet"
        expect = "unknown dataset 'imagenet'"
    elif case == "impossible_count":
        args += ["--counts", "6000,1,1,1,1,1,1,1,1,1"]
        expect = "class 0 asks for 6000 images but only 5923 exist"
    else:
        (root / "mnist").mkdir(parents=True)
        for name in os.listdir(mirror / "mnist"):
            shutil.copy(mirror / "mnist" / name, root / "mnist" / name)
        target = root / "mnist" / "t10k-labels-idx1-ubyte.gz"
        data = bytearray(target.read_bytes())
        if case == "corrupt_file":
            target.write_bytes(data[: len(data) // 2])  # truncated download
            expect = "t10k-labels-idx1-ubyte.gz: checksum mismatch"
        else:
            data[-1] ^= 0xFF  # same size, other bytes
            target.write_bytes(bytes(data))
            expect = "md5"
    p = _run(*args, env_extra=env)
    assert p.returncode != 0
    lines = [line for line in p.stderr.strip().splitlines() if line.startswith("error") or "error:" in line]
    assert len(lines) == 1 and expect in lines[0], p.stderr
    assert not (root / "splits").exists() or not any((root / "splits").iterdir())


def test_seed_list_parses_comma_separated_seeds_and_names_the_flag_on_bad_input():
    from shared_data.cli import seed_list

    assert seed_list("3,1, 2,") == [3, 1, 2]
    for text, message in (("1,x", "--split-seeds takes comma-separated integers, got '1,x'"),
                          (" , ", "--split-seeds is empty"),
                          ("1,-2", "--split-seeds takes non-negative integers, got '1,-2'")):
        with pytest.raises(ValueError) as err:
            seed_list(text, "--split-seeds")
        assert str(err.value) == message


def test_a_file_system_error_is_one_line_with_the_path_and_what_to_do(tmp_path):
    import errno

    from shared_data import cli

    afile = tmp_path / "afile"
    afile.write_text("x")
    try:
        (afile / "runs").mkdir(parents=True)
    except OSError as exc:
        line = cli.os_error_line(exc)
    assert line.startswith(f"error: {afile / 'runs'}: ") and "not a folder" in line and "--out" in line
    line = cli.os_error_line(PermissionError(errno.EACCES, "Permission denied", "/ro/runs"))
    assert line == ("error: /ro/runs: Permission denied; make it writable or pass another path "
                    "(--out, --data-root)")
    assert cli.os_error_line(OSError("disk full")) == "error: disk full; check the path and its permissions"
    assert "\n" not in line
