"""Provenance of a record: the packages, commit, device and time it was made with."""
from __future__ import annotations

import datetime as _dt
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

_VERSION_PACKAGES = ("numpy", "scipy", "scikit-learn", "imbalanced-learn", "pandas", "tensorflow", "keras",
                     "tf-keras", "tf-slim", "jax", "jaxlib", "torch", "torchvision", "shared_data")


def package_versions(extra: tuple[str, ...] = ()) -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _VERSION_PACKAGES + tuple(extra):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


# What a run or a report writes into a checkout, and what cannot change a result: publishing a run (results/) or
# regenerating the README's tables must not make the next run of the same checkout "uncommitted code".
NOT_CODE = (":(top,exclude)results", ":(top,exclude,glob)**/*.md")


def git_commit(cwd: str | os.PathLike | None = None) -> str:
    """HEAD of the repository holding ``cwd`` (``+dirty`` when tracked files differ, leaving out ``results/`` and
    Markdown files: see ``NOT_CODE``), or 'unknown'.

    By default the working directory's repository is asked first (a ``run.py`` runs inside the checkout whose
    code it executes, which may be a clone at a fixed commit), then the one holding this package.
    """
    if cwd is None:
        found = git_commit(Path.cwd())
        return found if found != "unknown" else git_commit(Path(__file__).resolve().parent)
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", *NOT_CODE], cwd=cwd,
                               capture_output=True, text=True, timeout=10)
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def describe_device(gpus: list[str] | None = None) -> str:
    """The machine a run used, in one string shared by every method: ``cpu: <model> (<n> cores)``, or
    ``gpu: <name> x<count>`` when the method ran on GPUs (it passes their names; shared_data imports no
    framework). Runs of different methods on one machine get the same string, so reports group them."""
    if gpus:
        names = sorted(set(gpus))
        return "gpu: " + ", ".join(f"{n} x{sum(g == n for g in gpus)}" for n in names)
    return describe_cpu()


def framework_version(name: str) -> str:
    """``"torch 2.13.0"``: a framework package and its installed version, for ``result.json``'s ``framework``."""
    try:
        return f"{name} {metadata.version(name)}"
    except metadata.PackageNotFoundError:
        return name


def describe_cpu() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"cpu: {model} ({os.cpu_count()} cores)"


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
