"""The kinds of failure every ``run.py`` turns into an exit code, in one place (``shared_data.skeleton``).

- :class:`DataError`: a dataset file, split or released artefact is missing, corrupt or does not fit the
  request (``fetch.DataError``, ``protocols.SplitError``, ``registry.UnknownDatasetError`` are kinds of it);
- :class:`ConfigError`: flags or config values that cannot make a run (an unknown key, an impossible value);
- :class:`RunFolderError`: a run folder that cannot be used as asked (locked by another run, made by another
  config, a stage's input missing, a checkpoint that cannot be read);
- :class:`RunStopped`: the run stopped on purpose at a checkpoint (``--stop-after``) and resumes when the same
  command runs again; a signal (SIGINT, SIGTERM) ends the same way.

Each is an ordinary exception of the kind it replaces (``ValueError`` or ``RuntimeError``), so code that caught
those still does. A file-system failure stays an ``OSError``.
"""
from __future__ import annotations


class ProjectError(Exception):
    """Base of the failures a run reports in one line."""


class DataError(ProjectError, RuntimeError):
    """A data file, split or released artefact cannot be used."""


class ConfigError(ProjectError, ValueError):
    """Flags or config values that cannot make a run."""


class RunFolderError(ProjectError, RuntimeError):
    """A run folder cannot be used as asked (locked, another config, a stage's input missing)."""


class RunStopped(ProjectError):
    """A run stopped at a checkpoint on purpose; the same command resumes it."""
