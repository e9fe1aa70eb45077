"""Quiet framework imports: native CUDA-probe notices are dropped on a CPU machine, every other line kept."""
import os
import subprocess
import sys

from shared_data import quiet

NOTICE = ("I0000 00:00:1796616146.481937 24934 cudart_stub.cc:31] Could not find cuda drivers on your machine, "
          "GPU will not be used.\n")


def _child(code: str, **env) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != quiet.VERBOSE_ENV}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**environ, **env},
                          timeout=60)


CODE = f"""
import os, sys
from shared_data import quiet
quiet.gpu_present = lambda: False
with quiet.framework_import():
    os.write(2, {NOTICE!r}.encode())               # native code writing to the file descriptor
    os.write(2, b"E0000 something else went wrong\\n")
    print("python warning", file=sys.stderr)
os.write(2, {NOTICE!r}.encode())                   # after the import: untouched
print("level", os.environ.get("TF_CPP_MIN_LOG_LEVEL"))
"""


def test_the_cuda_probe_notices_are_dropped_and_other_lines_kept():
    p = _child(CODE)
    assert p.returncode == 0, p.stderr
    assert p.stderr.count("cudart_stub") == 1, "only the notice written after the import is left"
    assert "E0000 something else went wrong" in p.stderr and "python warning" in p.stderr
    assert "level 3" in p.stdout


def test_verbose_turns_it_off():
    p = _child(CODE, **{quiet.VERBOSE_ENV: "1"})
    assert p.stderr.count("cudart_stub") == 2


def test_filtered_keeps_what_is_not_noise():
    text = NOTICE + "E0000 cuda_platform.cc:52] failed call to cuInit: UNKNOWN ERROR (303)\nreal problem\n"
    assert quiet.filtered(text) == "real problem\n"
