"""Quiet framework imports on a machine without a GPU.

A CUDA-enabled TensorFlow wheel, imported on a CPU-only machine, writes its probe for CUDA to the process's
stderr from C++ (``cudart_stub.cc ... Could not find cuda drivers``, ``failed call to cuInit``, the absl notice
before its logger starts, "Unable to register cuDNN factory"), 3 to 10 lines before a run has said a word. Those
lines come from native code, so Python's logging cannot hold them back; :func:`framework_import` redirects the
file descriptor during the import and passes on every line that is not one of those notices, so a real error
still shows. ``TF_CPP_MIN_LOG_LEVEL`` is raised to 3 on such a machine (the cuInit failure is logged at error
level on the first operation); ``SHARED_DATA_VERBOSE=1`` turns all of this off.

No framework is imported here: the method's package does ``with quiet.framework_import(): import tensorflow``.
"""
from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from pathlib import Path

VERBOSE_ENV = "SHARED_DATA_VERBOSE"
# The native notices of a CUDA build probing for a GPU that is not there, and of its plugin registration.
NOISE = re.compile(
    r"cudart_stub\.cc|cuda_platform\.cc|cuda_executor\.cc|cuda_diagnostics|failed call to cuInit|"
    r"Could not find cuda drivers|All log messages before absl::InitializeLog|"
    r"Unable to register cu(DNN|FFT|BLAS) factory|TF-TRT Warning|computation_placer\.cc|"
    r"This TensorFlow binary is optimized to use available CPU instructions|"
    r"rebuild TensorFlow with the appropriate compiler flags|oneDNN custom operations are on|"
    r"cpu_feature_guard\.cc")


def gpu_present() -> bool:
    """Whether an NVIDIA driver is loaded on this machine (the CUDA probe then has something to find)."""
    return Path("/proc/driver/nvidia").exists() or any(Path("/dev").glob("nvidia[0-9]*"))


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0")


def filtered(text: str) -> str:
    """``text`` without the lines :data:`NOISE` matches."""
    return "".join(line for line in text.splitlines(keepends=True) if not NOISE.search(line))


@contextlib.contextmanager
def framework_import():
    """Around a framework's first import: on a machine without a GPU, its native CUDA-probe notices are dropped
    and every other line it writes to stderr is passed on (module doc)."""
    if verbose() or gpu_present():
        yield
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            rest = filtered(sink.read().decode(errors="replace"))
            if rest:
                sys.stderr.write(rest)
                sys.stderr.flush()
