"""One config shape for every method: ``<folder>/configs/<dataset>.py`` and one resolver.

A dataset's config module holds plain values:

- ``CONFIG``: a dict of the paper's schedule (the ``full`` budget), every constant the method reads;
- ``BUDGETS``: ``{"quick": {...}, "smoke": {...}}``, the keys each shorter budget changes (``full`` may be
  absent or empty).

:func:`resolve` merges them with the command line's overrides and refuses a key the config does not have, so a
misspelt override or a budget that names a removed constant is an error, not a silent no-op. The resolved dict is
what a run saves as its ``config.json``.
"""
from __future__ import annotations

import copy
import difflib
import importlib
from types import ModuleType
from typing import Any, Mapping

from .errors import ConfigError

BUDGET_KEY = "budget"


def _check(keys, known, where: str) -> None:
    unknown = sorted(set(keys) - set(known))
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(key, sorted(known), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"{where}: unknown config key {key!r}{hint}")


def resolve(module: ModuleType | Mapping[str, Any], budget: str, overrides: Mapping[str, Any] | None = None,
            skip_none: bool = True) -> dict:
    """``CONFIG``, then ``BUDGETS[budget]``, then ``overrides`` (values of ``None`` are skipped: an unset flag);
    every key of the last two must already be in ``CONFIG``. ``module`` is a config module or a dict with the
    same two names. The result is a deep copy with ``budget`` set."""
    base = module["CONFIG"] if isinstance(module, Mapping) else getattr(module, "CONFIG", None)
    budgets = (module.get("BUDGETS") if isinstance(module, Mapping) else getattr(module, "BUDGETS", None)) or {}
    name = module.get("__name__", "config") if isinstance(module, Mapping) else module.__name__
    if not isinstance(base, Mapping):
        raise ConfigError(f"{name}: no CONFIG dict")
    if budget != "full" and budget not in budgets:
        raise ConfigError(f"{name}: no {budget!r} budget (has: full, {', '.join(sorted(budgets))})")
    cfg = copy.deepcopy(dict(base))
    for key, table in budgets.items():
        _check(table, cfg, f"{name}.BUDGETS[{key!r}]")
    cfg.update(copy.deepcopy(dict(budgets.get(budget) or {})))
    extra = {k: v for k, v in (overrides or {}).items() if not (skip_none and v is None)}
    _check(extra, cfg, f"{name} override")
    cfg.update(extra)
    cfg[BUDGET_KEY] = budget
    return cfg


def load(package: str, dataset: str, budget: str, overrides: Mapping[str, Any] | None = None, **kw) -> dict:
    """:func:`resolve` of ``<package>.<dataset>`` (e.g. ``load("configs", "mnist", "quick")``); an unknown dataset
    is a ConfigError naming the config modules that exist."""
    try:
        module = importlib.import_module(f"{package}.{dataset}")
    except ModuleNotFoundError as exc:
        if exc.name not in (f"{package}.{dataset}", package):
            raise
        raise ConfigError(f"no config for dataset {dataset!r} in {package}/") from None
    return resolve(module, budget, overrides, **kw)
