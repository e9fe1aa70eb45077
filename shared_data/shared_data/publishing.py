"""Publishing a finished run: its ``result.json`` (and training log) copied under ``results/``.

A run is published once per machine: the same run computed on another device goes beside the earlier record,
never in its place (:func:`same_machine`), and a different result on the same device replaces the published one
only when asked to.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

from .atomic import atomic_write_bytes, to_json
from .paths import UnsafePathError, inside
from .records import RunDir, RunError, checked_name, validate_run_dir
from .result_schema import ResultValidationError


def device_slug(device: str) -> str:
    """``cpu: Intel(R) Xeon(R) Processor (2 cores)`` -> ``cpu-intel-r-xeon-r-processor-2-cores``."""
    return re.sub(r"[^a-z0-9]+", "-", device.lower()).strip("-")


def _published(path: Path) -> dict:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def same_machine(a: dict, b: dict) -> bool:
    """Whether two records were computed on the same machine: the same device label and, where both have one
    (older records do not), the same ``machine_id``."""
    if a.get("device") != b.get("device"):
        return False
    return not (a.get("machine_id") and b.get("machine_id")) or a["machine_id"] == b["machine_id"]


def publish(run_dir: str | os.PathLike, results_root: str | os.PathLike = "results", allow_dirty: bool = False,
            replace: bool = False) -> Path:
    """Copy a finished run's ``result.json`` to ``<results_root>/<method>/<run name>/result.json``.

    The run folder must pass :func:`validate_run_dir` (what ``python -m shared_data validate RUN_DIR`` checks:
    the result, its predictions, a training log whose every line is whole). A run made from uncommitted code
    (``git_commit`` ending in ``+dirty``) is refused unless ``allow_dirty``. The run's ``metrics.jsonl`` (its
    training log) goes beside it (a run without one is refused), so a published number can be traced back through
    the run that produced it. Both copies are atomic, and the log is copied first: a published ``result.json``
    never sits beside a missing or half-written log. The method and the run folder's name must be plain names, and
    the copy lands inside ``results_root``.

    The same run on another device goes beside an earlier record, to ``<run name>--<device slug>/``: numbers from
    different machines differ in their summation order, so neither may silently take the other's place. "Another
    device" is another device label, or another ``machine_id`` where both records have one (:func:`same_machine`;
    under the same label the folder is then ``<run name>--<device slug>-<machine_id>/``, as it is when the
    ``--<device slug>`` folder holds another machine of the label). On the same
    device, publishing the identical result again changes nothing, and a different result is refused unless
    ``replace``.
    """
    run = RunDir(run_dir)
    if not run.is_complete():
        raise RunError(f"{run.path} has no result.json yet (the run has not finished)")
    if not run.metrics_path.exists():
        raise RunError(f"{run.path} has no metrics.jsonl: a published result goes with the training log that "
                       f"produced it")
    try:
        result = validate_run_dir(run.path)
    except ResultValidationError as exc:
        where = "" if str(run.path) in str(exc) else f"{run.path}: "
        raise RunError(f"not published: {where}{exc}") from None
    if result["git_commit"].endswith("+dirty") and not allow_dirty:
        raise RunError(f"{run.path} ran on uncommitted code ({result['git_commit']}): a published result must be "
                       f"reproducible from a commit; commit and re-run, or pass --allow-dirty to publish it anyway")
    name = checked_name(run.path.resolve().name, "run folder name")
    folder = Path(results_root) / checked_name(result["method"], "method")
    slug = device_slug(result["device"])
    # The first of these folders that is free or holds this machine's record: the run's own name; the device
    # label's, where the run's own folder holds another label; the label's with this machine's identity.
    names = [name] + ([] if _published(folder / name / "result.json").get("device") == result["device"] else
                      [f"{name}--{slug}"])
    names += [f"{name}--{slug}-{result['machine_id']}"] if result.get("machine_id") else []
    for candidate in names:
        target = folder / candidate / "result.json"
        if not target.exists() or same_machine(_published(target), result):
            break
    else:
        raise RunError(f"{folder / names[-1]} already holds a record of this run from another machine; publish "
                       f"by hand under another name")
    try:
        inside(results_root, target.relative_to(results_root), "published record")
    except UnsafePathError as exc:
        raise RunError(str(exc)) from None
    data = run.result_path.read_bytes()
    if result["git_commit"].endswith("+dirty"):  # allowed, and said so in the published record
        data = (to_json(dict(result, published_with_allow_dirty=True)) + "\n").encode()
    if target.exists():
        if target.read_bytes() == data:
            return target  # already published: nothing to do
        if not replace:
            old = _published(target)
            raise RunError(f"{target} already holds another result of this run on this device (created "
                           f"{old.get('created_utc')}, commit {old.get('git_commit')}); pass --replace to replace "
                           f"it (python -m shared_data publish {run.path} --replace)")
    atomic_write_bytes(target.parent / run.metrics_path.name, run.metrics_path.read_bytes())
    atomic_write_bytes(target, data)
    return target
