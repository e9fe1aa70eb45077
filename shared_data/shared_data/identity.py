"""What makes a run's numbers, and the command that makes them again.

Two runs of the same code and command give the same predictions, bit for bit, only on a machine that computes the
same way: the same instruction-set extensions (oneDNN, MKL and Eigen pick their kernels by them: AVX2, AVX-512,
AMX), the same thread counts (the split of a sum over threads sets its order), the same math-library switches
(``TF_ENABLE_ONEDNN_OPTS=0`` swaps TensorFlow's oneDNN kernels for Eigen's) and, on a GPU, the same card. The
device label of a record (``cpu: Intel(R) Xeon(R) Processor (2 cores)``) says none of this, so a record carries

- ``machine``: :func:`describe_machine`'s dict: ``cpu`` (model, vendor, architecture, the kernel-dispatch
  extensions present, logical and usable cores), ``env`` (the math-library settings of the environment),
  ``threads`` (what the method set or its framework reports), ``gpus`` (name and compute capability) and
  ``extra`` (anything else a method knows changes its numbers);
- ``machine_id``: :func:`machine_id`, a 12-hex-digit hash of all of that (no host name, no time): two records with
  the same ``machine_id`` were computed the same way, and records whose ids differ are not expected to agree digit
  for digit;
- ``command``: :func:`run_command`, the ``run.py`` argument list as the user gave it, with the method folder
  (``["dgc_tf/run.py", "--dataset", "mnist", "--budget", "quick", "--out", "<out>"]``). The values of the
  flags that only say where files go (``--out``, ``--data-root``, ``--mirror``, ``--publish``) are placeholders,
  so the command is the same on every machine; ``python -m shared_data verify-record`` fills them in again.

No framework is imported here: a method passes what only its framework knows (``threads``, ``gpus`` with their
compute capability); :func:`framework_facts` reads what frameworks the process has already loaded report.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
from pathlib import Path

# /proc/cpuinfo flags that kernels dispatch on (x86: SSE4 to AMX; aarch64: NEON dot products to SVE2).
KERNEL_FLAGS = (
    "sse4_1", "sse4_2", "avx", "avx2", "fma", "f16c", "avx_vnni", "avx_vnni_int8", "avx_ne_convert",
    "avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl", "avx512ifma", "avx512vbmi", "avx512_vbmi2",
    "avx512_vnni", "avx512_bitalg", "avx512_vpopcntdq", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16",
    "amx_int8", "amx_fp16", "amx_complex",
    "asimd", "asimdhp", "asimddp", "fphp", "bf16", "i8mm", "sve", "sve2", "svebf16", "svei8mm", "sme",
)
# Environment settings that change what the math libraries compute: thread pools, kernel choice, precision.
# The first three are always recorded (null when unset); the others when set.
MATH_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TF_ENABLE_ONEDNN_OPTS")
MATH_ENV_OPTIONAL = (
    "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "ONEDNN_MAX_CPU_ISA",
    "DNNL_MAX_CPU_ISA", "ONEDNN_DEFAULT_FPMATH_MODE", "MKL_ENABLE_INSTRUCTIONS", "MKL_CBWR",
    "TF_DETERMINISTIC_OPS", "TF_CUDNN_DETERMINISTIC", "TF_XLA_FLAGS", "XLA_FLAGS", "NVIDIA_TF32_OVERRIDE",
    "CUBLAS_WORKSPACE_CONFIG", "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE",
)
ID_LENGTH = 12

# run.py flags whose values say only where files go: placeholders in a recorded command.
PATH_FLAGS = {"--out": "<out>", "--data-root": "<data-root>", "--mirror": "<mirror>", "--publish": "<results>"}


# -- the machine -----------------------------------------------------------------------------------------------

def cpu_info(cpuinfo: str | None = None) -> dict:
    """The CPU as kernels see it: ``model``, ``vendor``, ``arch``, ``flags`` (the :data:`KERNEL_FLAGS` present,
    sorted), ``cores`` (logical CPUs) and ``usable_cores`` (those this process may run on). ``cpuinfo`` is the
    text of /proc/cpuinfo (read when None; a machine without it gives what ``platform`` knows)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            cpuinfo = ""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        key = key.strip().lower()
        if sep and key not in fields:  # the first processor stands for all
            fields[key] = value.strip()
    present = set((fields.get("flags") or fields.get("features") or "").split())
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    return {
        "model": fields.get("model name") or fields.get("cpu model") or platform.processor() or platform.machine(),
        "vendor": fields.get("vendor_id") or fields.get("cpu implementer") or "unknown",
        "arch": platform.machine(),
        "flags": sorted(f for f in KERNEL_FLAGS if f in present),
        "cores": os.cpu_count(),
        "usable_cores": usable,
    }


def math_env(environ=None) -> dict:
    """The math-library settings of ``environ`` (default ``os.environ``): :data:`MATH_ENV` always (None when
    unset), :data:`MATH_ENV_OPTIONAL` when set."""
    environ = os.environ if environ is None else environ
    out = {name: environ.get(name) for name in MATH_ENV}
    out.update({name: environ[name] for name in MATH_ENV_OPTIONAL if name in environ})
    return out


def _gpu(entry) -> dict:
    if isinstance(entry, dict):
        if not entry.get("name"):
            raise ValueError(f"a GPU is named: {entry!r}")
        gpu = {k: v for k, v in entry.items() if v is not None}
    else:
        gpu = {"name": str(entry)}
    cc = gpu.get("compute_capability")
    if isinstance(cc, (tuple, list)):
        gpu["compute_capability"] = ".".join(str(int(x)) for x in cc)
    return gpu


def describe_machine(threads=None, gpus=None, extra: dict | None = None, environ=None,
                     cpuinfo: str | None = None) -> dict:
    """What makes a run's numbers on this machine (see the module's doc); ``machine_id`` hashes it.

    ``threads``: what the method set (an int, or a dict such as ``{"torch": 1}``); ``gpus``: the GPUs it ran
    on, as names or dicts with ``name`` and ``compute_capability`` (``"9.0"`` or ``(9, 0)``) and whatever else
    the framework reports; ``extra``: other settings that change the numbers (e.g. ``{"xla": True}``).
    """
    return {
        "cpu": cpu_info(cpuinfo),
        "env": math_env(environ),
        "threads": _plain(threads),
        "gpus": [_gpu(g) for g in gpus or ()],
        "extra": _plain(extra or {}),
    }


def _plain(value):
    """JSON-shaped (numpy scalars and tuples as JSON has them), so a hash of it is the hash of the record."""
    return json.loads(json.dumps(value, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


def machine_id(machine: dict) -> str:
    """A short stable hash of a :func:`describe_machine` dict (key order and whitespace do not count)."""
    text = json.dumps(machine, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:ID_LENGTH]


def machine_problems(machine, given_id) -> list[str]:
    """What is wrong with a record's ``machine`` and ``machine_id`` (both optional: older records lack them)."""
    if machine is None and given_id is None:
        return []
    if not isinstance(machine, dict) or not isinstance(given_id, str):
        return ["machine and machine_id go together (a dict and its hash)"]
    missing = [k for k in ("cpu", "env", "threads", "gpus", "extra") if k not in machine]
    if missing:
        return [f"machine lacks {', '.join(missing)}"]
    if machine_id(machine) != given_id:
        return [f"machine_id {given_id!r} is not the hash of machine ({machine_id(machine)!r})"]
    return []


def machine_differences(a: dict, b: dict, parts=("cpu", "env", "threads", "gpus", "extra")) -> list[str]:
    """The fields in which two machine dicts differ, as ``part.key: a vs b`` lines (empty: the same)."""
    out = []
    for part in parts:
        x, y = a.get(part), b.get(part)
        if isinstance(x, dict) and isinstance(y, dict):
            for key in sorted(set(x) | set(y)):
                if x.get(key) != y.get(key):
                    out.append(f"{part}.{key}: {x.get(key)!r} vs {y.get(key)!r}")
        elif x != y:
            out.append(f"{part}: {x!r} vs {y!r}")
    return out


def framework_facts(device: str = "") -> tuple[dict | None, list]:
    """Thread counts and GPU details reported by the frameworks this process has already imported (none is
    imported here): ``({"torch": n, "torch_interop": m} or None, [gpu dicts])``. GPUs are asked about only when
    ``device`` (a record's device label) says the run used one."""
    threads, gpus = {}, []
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            threads["torch"] = int(torch.get_num_threads())
            threads["torch_interop"] = int(torch.get_num_interop_threads())
        except Exception:  # a half-imported or stubbed module: nothing to report
            pass
    on_gpu = str(device).startswith("gpu:")
    if on_gpu and torch is not None:
        try:
            if torch.cuda.is_available():
                for i in range(torch.cuda.device_count()):
                    gpus.append({"name": torch.cuda.get_device_name(i),
                                 "compute_capability": ".".join(map(str, torch.cuda.get_device_capability(i)))})
        except Exception:
            gpus = []
    tf = sys.modules.get("tensorflow")
    if on_gpu and not gpus and tf is not None:
        try:
            for dev in tf.config.list_physical_devices("GPU"):
                details = tf.config.experimental.get_device_details(dev)
                gpus.append({"name": details.get("device_name", dev.name),
                             "compute_capability": details.get("compute_capability")})
        except Exception:
            gpus = []
    return (threads or None), [_gpu(g) for g in gpus]


def gpu_names_of(device: str) -> list[str]:
    """The GPU names of a device label ``gpu: NVIDIA H100 x2, ...`` (one entry per card), [] for a CPU label."""
    if not str(device).startswith("gpu:"):
        return []
    names = []
    for part in str(device)[4:].split(","):
        name, _, count = part.strip().rpartition(" x")
        if name and count.isdigit():
            names += [name] * int(count)
        elif part.strip():
            names.append(part.strip())
    return names


# -- the command -----------------------------------------------------------------------------------------------

def portable_args(args) -> list[str]:
    """``args`` with the values of :data:`PATH_FLAGS` replaced by their placeholders (``--out /abs`` and
    ``--out=/abs`` alike)."""
    out, it = [], iter(list(args))
    for arg in it:
        flag, eq, _ = arg.partition("=")
        if flag in PATH_FLAGS and eq:
            out.append(f"{flag}={PATH_FLAGS[flag]}")
        elif arg in PATH_FLAGS:
            out.append(arg)
            if next(it, None) is not None:
                out.append(PATH_FLAGS[arg])
        else:
            out.append(arg)
    return out


def strip_path_flags(args) -> list[str]:
    """``args`` without :data:`PATH_FLAGS` (and ``--allow-dirty``, which goes only with ``--publish``)."""
    out, it = [], iter(list(args))
    for arg in it:
        flag, eq, _ = arg.partition("=")
        flag = _spelt_out(flag)
        if flag in PATH_FLAGS and eq or flag == "--allow-dirty":
            continue
        if flag in PATH_FLAGS:
            next(it, None)
            continue
        out.append(arg)
    return out


def _spelt_out(flag: str) -> str:
    """The path flag (or ``--allow-dirty``) that ``flag`` abbreviates, as argparse would read it; else ``flag``.
    A recorded command may come from a parser that still took abbreviations: ``--publ`` is ``--publish``."""
    if not flag.startswith("--") or len(flag) < 4:
        return flag
    hits = [f for f in (*PATH_FLAGS, "--allow-dirty") if f.startswith(flag)]
    return hits[0] if len(hits) == 1 else flag


def run_command(argv=None, script=None) -> list[str] | None:
    """The command that made this process's run: ``["<method folder>/run.py", *portable_args(argv[1:])]``, or
    None when the process is not a ``run.py`` (e.g. a test calling a method's ``main(argv)``).

    ``argv`` defaults to ``sys.argv`` and ``script`` to the ``__main__`` module's file."""
    argv = sys.argv if argv is None else argv
    if script is None:
        script = getattr(sys.modules.get("__main__"), "__file__", None) or (argv[0] if argv else None)
    if not argv or not script or Path(script).name != "run.py" or Path(argv[0]).name != "run.py":
        return None
    folder = Path(os.path.abspath(script)).parent.name
    return [f"{folder}/run.py", *portable_args(argv[1:])]
