"""IMSIC's kinds of the project's failures (``shared_data.errors``), free of any framework import so that run.py
can refuse a command before torch loads."""
from __future__ import annotations

from shared_data import errors


def reason(exc: BaseException, limit: int = 120) -> str:
    """The first line of an exception's message, shortened, for a one-line error that wraps it."""
    lines = str(exc).strip().splitlines()
    return lines[0][:limit] if lines else "no detail given"


class StageError(errors.RunFolderError):
    """A stage cannot run: its input is missing or unreadable (the message says what to run)."""


class WriteError(errors.RunFolderError):
    """A checkpoint or result could not be written for want of room (disk full, quota, file-size limit); the
    checkpoint before it is intact (the message says what to do)."""


class Stopped(errors.RunStopped):
    """The run stopped at a checkpoint on ``--stop-after``; the same command resumes it."""
