"""A run's live progress: ``<run folder>/run_progress.json``, rewritten atomically while the run trains.

The file is small and self-describing, so that anything that can read the run folder (``python -m benchmark
status``, a shell on a login node) can say how far a run is without importing a framework::

    {"schema": "shared_data/progress/v1", "state": "running", "stage": "gan", "unit": "epoch",
     "done": 37, "total": 100, "rate_per_s": 0.59, "eta_s": 106.8, "eta_utc": "...", "elapsed_s": 62.7,
     "metric": {"name": "acsa", "value": 0.7012, "split": "test", "at": 35},
     "train": {"name": "loss", "value": 1.93}, "updated_utc": "...", "updated_unix": 1.7e9,
     "host": "node12", "pid": 4242}

Every method already writes its training log through :meth:`shared_data.records.RunDir.log_metrics` (and
``log_eval``); :class:`Tracker` is fed from there, so no method has to call anything:

- **where the run is**: a record's ``step`` (unit ``step``), else its ``epoch`` (unit ``epoch``; a log whose
  first epoch is 0 counts epochs from 0, so epoch 0 logged means one epoch done), within its ``stage`` when the
  record names one. Only ``train`` and ``eval`` records move the position.
- **how far it goes**: what the method declared with :meth:`RunDir.set_progress_total
  <shared_data.records.RunDir.set_progress_total>`, else the run's ``config.json``: ``<stage>_steps``,
  ``steps``, ``max_step``, ``max_steps``, ``total_steps`` for steps; ``<stage>_epochs``, ``epochs``,
  ``epoch_num``, ``num_epochs``, ``n_epochs`` for epochs (the first positive integer found). A position past that
  total means the guess was wrong: the total is then left out (the bar shows a count, no percentage).
- **the ETA**: the rate since this process's first record of the current stage (a stage that follows another
  counts from that one's last record), applied to what is left of the stage; none until a second record.
- **the last metric**: the last test evaluation's ACSA (else accuracy, else its first metric); until one exists,
  the last training loss.

Writing it never stops a run: an error while updating the file is swallowed (after one warning). It is rewritten
with every record of the log (methods log once per epoch or evaluation, not per step).
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
import socket
import time
import warnings
from pathlib import Path

FILE_NAME = "run_progress.json"
SCHEMA = "shared_data/progress/v1"
STEP_TOTAL_KEYS = ("steps", "max_step", "max_steps", "total_steps")
EPOCH_TOTAL_KEYS = ("epochs", "epoch_num", "num_epochs", "n_epochs")
METRIC_ORDER = ("acsa", "accuracy")
_POSITION_KINDS = ("train", "eval")


def path_of(run_dir: str | os.PathLike) -> Path:
    return Path(run_dir) / FILE_NAME


def read(run_dir: str | os.PathLike) -> dict | None:
    """The progress file of a run folder, or None (none written yet, or unreadable)."""
    try:
        data = json.loads(path_of(run_dir).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("schema") == SCHEMA else None


def _utc(seconds: float) -> str:
    return _dt.datetime.fromtimestamp(seconds, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def total_from_config(config: dict, unit: str, stage: str | None = None) -> int | None:
    """The run's length in ``unit`` (``step`` or ``epoch``) as its config names it, or None."""
    keys = STEP_TOTAL_KEYS if unit == "step" else EPOCH_TOTAL_KEYS
    plural = "steps" if unit == "step" else "epochs"
    for key in ((f"{stage}_{plural}",) if stage else ()) + keys:
        value = config.get(key) if isinstance(config, dict) else None
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def eta_text(seconds) -> str:
    if not _number(seconds):
        return "?"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class Tracker:
    """The progress of one run folder, as seen from the process that trains it."""

    def __init__(self, run_dir: str | os.PathLike, config: dict | None = None, clock=time.time):
        self.path = path_of(run_dir)
        self.config = config or {}
        self.clock = clock
        self.opened = clock()
        earlier = read(run_dir)
        self.resumed = earlier is not None
        self.state: dict = {"schema": SCHEMA, "state": "running", "stage": None, "unit": None, "done": None,
                            "total": None, "rate_per_s": None, "eta_s": None, "eta_utc": None, "metric": None,
                            "train": None, "epoch_base": {}}
        if earlier:  # what an earlier attempt knew: its metric and how it counts epochs
            for key in ("metric", "train", "stage", "unit", "done", "total"):
                self.state[key] = earlier.get(key)
            self.state["epoch_base"] = dict(earlier.get("epoch_base") or {})
        self.totals: dict = {}  # (stage, unit) -> total, declared by the method
        self._anchor = None  # (time, done, stage) the rate is measured from
        self._last_write = None
        self._warned = False

    # -- what the method may declare -------------------------------------------------------------------------

    def set_total(self, total: int, unit: str = "step", stage: str | None = None) -> None:
        if unit not in ("step", "epoch") or not (isinstance(total, int) and total > 0):
            raise ValueError(f"a progress total is a positive number of steps or epochs, got {total!r} {unit!r}")
        self.totals[(stage, unit)] = total

    # -- fed from the training log ---------------------------------------------------------------------------

    def update(self, record: dict) -> None:
        try:
            self._update(record)
        except Exception as exc:  # noqa: BLE001  (a progress file is never worth a failed run)
            self._warn(exc)

    def finish(self, result: dict | None = None) -> None:
        """The run has written its result: the bar is full, the metric is the result's."""
        try:
            s = self.state
            if s["total"] is not None:
                s["done"] = s["total"]
            metrics = (result or {}).get("metrics") or {}
            name = next((k for k in METRIC_ORDER if _number(metrics.get(k))), None)
            if name:
                s["metric"] = {"name": name, "value": float(metrics[name]), "split": "test", "at": s["done"]}
            s.update(state="finished", eta_s=0.0, eta_utc=None)
            self._write()
        except Exception as exc:  # noqa: BLE001
            self._warn(exc)

    def _update(self, record: dict) -> None:
        if self.state["state"] == "finished":  # a record logged after the result changes nothing here
            return
        kind = record.get("kind", "train")
        s, now = self.state, self.clock()
        if kind == "eval" and isinstance(record.get("metrics"), dict):
            self._metric(record)
        elif kind == "train":
            loss = next((k for k in sorted(record, key=lambda k: (k != "loss", k))
                         if "loss" in k and _number(record[k])), None)
            if loss:
                s["train"] = {"name": loss, "value": float(record[loss])}
        if kind in _POSITION_KINDS:
            position = self._position(record)
            if position is not None:
                stage, unit, done = position
                if (stage, unit) != (s["stage"], s["unit"]):
                    # a stage that follows another in this process starts from 0 where that one's last record was
                    self._anchor = None if self._last_write is None else (self._last_write, 0, stage)
                s.update(stage=stage, unit=unit, done=done)
                total = self.totals.get((stage, unit)) or total_from_config(self.config, unit, stage)
                s["total"] = total if total is not None and done <= total else None
                if self._anchor is None or self._anchor[2] != stage or done < self._anchor[1]:
                    self._anchor = (now, done, stage)
                self._rate(now)
        self._write()

    def _position(self, record: dict):
        stage = record.get("stage") if isinstance(record.get("stage"), str) else None
        if _count(record.get("step")):
            return stage, "step", record["step"]
        if _count(record.get("epoch")):
            key = stage or ""
            base = self.state["epoch_base"]
            if record["epoch"] == 0:
                base[key] = 0
            return stage, "epoch", record["epoch"] + (1 if base.get(key, 1) == 0 else 0)
        return None

    def _metric(self, record: dict) -> None:
        metrics, split = record["metrics"], record.get("split")
        current = self.state["metric"]
        if split != "test" and current and current.get("split") == "test":
            return  # a test metric stays until the next test evaluation
        name = next((k for k in METRIC_ORDER if _number(metrics.get(k))), None) or \
            next((k for k in sorted(metrics) if _number(metrics[k])), None)
        if name:
            at = record.get("step") if _count(record.get("step")) else record.get("epoch")
            self.state["metric"] = {"name": name, "value": float(metrics[name]), "split": split, "at": at}

    def _rate(self, now: float) -> None:
        s = self.state
        t0, d0, _ = self._anchor
        rate = (s["done"] - d0) / (now - t0) if now > t0 and s["done"] > d0 else None
        s["rate_per_s"] = rate
        if rate and s["total"] is not None:
            s["eta_s"] = max(0.0, (s["total"] - s["done"]) / rate)
            s["eta_utc"] = _utc(now + s["eta_s"])
        else:
            s["eta_s"] = s["eta_utc"] = None

    def _write(self) -> None:
        now = self.clock()
        from .records import atomic_write_json  # records imports this module

        self.state.update(updated_utc=_utc(now), updated_unix=now, elapsed_s=now - self.opened,
                          host=socket.gethostname(), pid=os.getpid())
        atomic_write_json(self.path, self.state)
        self._last_write = now

    def _warn(self, exc: Exception) -> None:
        if not self._warned:
            self._warned = True
            warnings.warn(f"{self.path}: progress not updated ({exc.__class__.__name__}: {exc}); the run goes on",
                          stacklevel=3)
