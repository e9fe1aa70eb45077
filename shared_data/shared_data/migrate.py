"""Upgrade committed ``result.json`` records from schema v1 to v2 (kept so that the upgrade can be re-checked).

v2 adds what a record is: ``variant`` (named from the method's fix table), ``faithful``, ``fixes``,
``paper_method`` and ``eval_subset``; ``device`` becomes the machine alone (a v1 suffix such as
``, tensorflow`` moves into ``framework``). Each method's ``<method>_<framework>/fixes.py`` supplies
``variant_of(config)`` and ``PAPER_METHOD``, so the upgrade names a v1 run exactly as a new run with the same
flags would be named. The record's folder is renamed to the v2 run name (the variant's name, not the short
tags v1 used), keeping a ``--<device slug>`` suffix where the record had one.

    python -m shared_data migrate --results results --repo .   [--dry-run]
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

from .records import RESULT_SCHEMA, ResultValidationError, atomic_write_json, run_name, validate_result
from .variants import load_table

V1_SCHEMA = "shared_data/result/v1"


def method_table(repo: str | Path, method: str):
    hits = sorted(Path(repo).glob(f"{method}_*/fixes.py"))
    if len(hits) != 1:
        raise ResultValidationError(f"no single {method}_*/fixes.py under {repo} (found {len(hits)})")
    return load_table(hits[0])


def upgrade(result: dict, table) -> dict:
    """The v2 record of a v1 ``result``, given its method's fix table module."""
    if result.get("schema") == RESULT_SCHEMA:
        return result
    if result.get("schema") != V1_SCHEMA:
        raise ResultValidationError(f"unknown schema {result.get('schema')!r}")
    new = dict(result, schema=RESULT_SCHEMA, migrated_from=V1_SCHEMA)
    variant = table.variant_of(result["config"])
    new.update(variant=variant.name, faithful=bool(variant.faithful), fixes=json.loads(json.dumps(variant.fixes)),
               paper_method=paper_method_of(table, result["config"]))
    extra = result.get("extra") or {}
    if extra:  # v1 notes that pointed at documents outside the repository
        new["extra"] = json.loads(re.sub(r" \(spec[ ]section [0-9.]+\)", "", json.dumps(extra)))
    per_class = extra.get("test_subset_per_class", result["config"].get("test_subset_per_class"))
    new["eval_subset"] = int(per_class) if per_class else "full"
    device, _, backend = result["device"].partition(", ")
    if backend:  # v1 GAMO records: "cpu: ... (2 cores), tensorflow"
        new["device"] = device
        new["framework"] = f"{result['framework']} ({backend} backend)"
    return validate_result(new)


def paper_method_of(table, config: dict):
    """The paper's name for the run: ``fixes.paper_method_of(config)`` where a folder defines it (a baseline
    no paper reports gets None), else the folder's ``PAPER_METHOD``."""
    fn = getattr(table, "paper_method_of", None)
    return fn(config) if fn else table.PAPER_METHOD


def target_name(old_name: str, result: dict) -> str:
    """The v2 folder name of a published record: the v2 run name, plus the v1 device suffix if any."""
    suffix = old_name.partition("--")[2]
    name = run_name(result["dataset"], result["protocol"], result["split_seed"], result["seed"], result["budget"],
                    variant=result["variant"])
    return f"{name}--{suffix}" if suffix else name


def migrate_tree(results_root: str | Path, repo: str | Path = ".", dry_run: bool = False) -> list[str]:
    """Upgrade every ``<results_root>/<method>/<run>/result.json`` in place and rename its folder."""
    root = Path(results_root)
    tables, moves, log = {}, [], []
    for path in sorted(root.glob("*/*/result.json")):
        result = json.loads(path.read_text())
        method = result["method"]
        if method not in tables:
            tables[method] = method_table(repo, method)
        new = upgrade(result, tables[method])
        target = path.parent.with_name(target_name(path.parent.name, new))
        changed = new is not result
        if changed and not dry_run:
            atomic_write_json(path, new)
        if target != path.parent:
            moves.append((path.parent, target))
        if changed or target != path.parent:
            log.append(f"{path.parent} -> {target.name} ({new['variant']}, faithful={new['faithful']}, "
                       f"eval_subset={new['eval_subset']})")
    targets = [t for _, t in moves]
    clash = {t for t in targets if targets.count(t) > 1} | {t for _, t in moves if t.exists()}
    if clash:
        raise ResultValidationError(f"migration would merge records into {sorted(map(str, clash))}")
    if not dry_run:
        for old, new in moves:
            os.rename(old, new)
    return log
