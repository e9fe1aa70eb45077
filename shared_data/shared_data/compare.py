"""A finished run set beside what it should be compared with: its committed record and the paper.

``make reproduce-<name>`` ends here. For the user's run it prints

- **the committed record of the same run** (same method and run name, from ``results/``), if there is one: the
  user's run is a *re-run* of that record, not a new one. On a machine of the same identity (``machine_id``) the
  predictions should match bit for bit, and the text says whether they do; on another machine it says how far
  the headline metric moved (float rounding alone moves a run: the summation order differs between machines);
- **the paper's cell** for the same paper method, dataset and protocol where one exists, beside the run when the
  run is a faithful full-budget run on the full test set (only such a run is compared with a paper; a quick run is
  a check of the pipeline and says so); where none exists, the published cells of the same method and dataset
  under other protocols, so the user knows which command gives a comparison.

Nothing here writes: :func:`rerun_of` tells ``run.py --publish`` not to publish a re-run as a new record.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from .paths import UnsafePathError, safe_name

HEADLINE = (("acsa", "ACSA"), ("gm_gamo", "GM"), ("gmacro_dgc", "Gmacro"), ("accuracy", "accuracy"))


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def committed_records(results_root, method: str, run_name: str) -> list[tuple[Path, dict]]:
    """Every record of the run ``run_name`` under ``results_root/<method>/`` (the plain folder and the
    ``<run name>--<device>`` folders beside it), oldest first."""
    try:
        folder = Path(results_root) / safe_name(method, "method")
        safe_name(run_name, "run name")
    except UnsafePathError:
        return []
    found = []
    for path in sorted(folder.glob(f"{run_name}*/result.json")):
        name = path.parent.name
        if name == run_name or name.startswith(run_name + "--"):
            record = _read(path)
            if record is not None:
                found.append((path.parent, record))
    return sorted(found, key=lambda x: x[1].get("created_utc") or "")


def rerun_of(run_dir, results_root, result: dict | None = None) -> list[tuple[Path, dict]]:
    """The committed records the finished run in ``run_dir`` re-runs (same method, same run name), excluding a
    record that is this very run (same ``created_utc``). ``result``: the run's result.json, when already read."""
    result = result if result is not None else _read(Path(run_dir) / "result.json")
    if result is None:
        return []
    return [(p, r) for p, r in committed_records(results_root, result["method"], Path(run_dir).resolve().name)
            if r.get("created_utc") != result.get("created_utc")]


def _metrics_text(metrics: dict) -> str:
    return "  ".join(f"{title} {metrics[key]:.4f}" for key, title in HEADLINE
                     if isinstance(metrics.get(key), (int, float)) and math.isfinite(metrics[key]))


def _machine(r: dict) -> str:
    return f"{r.get('device', '?')}, machine {r.get('machine_id') or 'unrecorded'}"


def _predictions_note(run_dir: Path, mine: dict, record: dict) -> str:
    if not (mine.get("machine_id") and record.get("machine_id")):
        return "the record names no machine identity: a difference may come from float rounding alone"
    if mine["machine_id"] != record["machine_id"]:
        return "another machine identity: expect a difference from float rounding alone"
    a, b = mine.get("predictions_sha256"), record.get("predictions_sha256")
    if not (a and b):
        return "same machine identity (the record has no predictions hash to compare)"
    if a == b:
        return "same machine identity: predictions identical, bit for bit"
    return "same machine identity, yet other predictions: the code or a library differs from the record's"


def paper_cells(paper_folder, paper_method: str, dataset: str):
    """The paper tables' rows of ``paper_method`` on ``dataset`` (every protocol), as a DataFrame."""
    from .report import load_paper_tables

    if not paper_method or not Path(paper_folder).is_dir():
        return None
    df = load_paper_tables(paper_folder)
    return df[(df["method"] == paper_method) & (df["dataset"] == dataset)]


def _cell_text(row) -> str:
    from .report import paper_std_text

    std = paper_std_text(row["std"], row["std_decimals"])
    digits = int(row["value_decimals"]) if math.isfinite(row["value_decimals"]) else 4
    return f"{row['metric']} {row['value']:.{digits}f}{(' ± ' + std) if std else ''}"


def compare_text(run_dir, results_root="results", paper_folder="paper_tables") -> str:
    """The comparison block for the finished run in ``run_dir`` (module doc)."""
    from .report import protocol_key

    run_dir = Path(run_dir)
    mine = _read(run_dir / "result.json")
    if mine is None:
        return f"{run_dir}: no result.json to compare"
    m = mine["metrics"]
    key = protocol_key(mine["split_id"], mine["dataset"])
    lines = [f"== {mine['method']} {mine['variant']} · {mine['dataset']} · protocol {key} · split seed "
             f"{mine['split_seed']} · seed {mine['seed']} · {mine['budget']} budget",
             f"   your run       {_metrics_text(m)}   ({_machine(mine)})"]
    records = rerun_of(run_dir, results_root, mine)
    if records:
        lines.append("   it re-runs the committed record" + ("s" if len(records) > 1 else "") + ":")
        for path, r in records:
            delta = m.get("acsa", float("nan")) - r["metrics"].get("acsa", float("nan"))
            lines.append(f"   record         {_metrics_text(r['metrics'])}   ({_machine(r)}, commit "
                         f"{r.get('git_commit', '?')[:12]}) {path}")
            lines.append(f"                  ACSA {delta:+.4f} from the record; {_predictions_note(run_dir, mine, r)}")
    else:
        lines.append(f"   no committed record of this run under {results_root}/{mine['method']}/")
    cells = paper_cells(paper_folder, mine.get("paper_method") or "", mine["dataset"])
    comparable = mine.get("faithful") and mine["budget"] == "full" and str(mine.get("eval_subset")) in ("full", "None")
    same = cells[cells["protocol"] == key] if cells is not None else None
    if same is not None and len(same):
        source = same.iloc[0]
        head = "paper" if comparable else "paper (not comparable: " + (
            "a fix is on" if not mine.get("faithful") else f"a {mine['budget']} run is a check, not a reproduction"
            if mine["budget"] != "full" else "scored on a test subset") + ")"
        lines.append(f"   {head}: " + "; ".join(_cell_text(r) for _, r in same.iterrows())
                     + f"   [{source['source'].split('.')[0]}, table {source['table']}]")
    else:
        lines.append(f"   paper: no published cell for {mine.get('paper_method') or mine['method']} on "
                     f"{mine['dataset']} under protocol {key}")
        if cells is not None and len(cells):
            for proto, group in cells.groupby("protocol"):
                lines.append(f"          published under protocol {proto}: "
                             + "; ".join(_cell_text(r) for _, r in group.iterrows())
                             + f" (run.py --protocol {proto.split('-')[0]} gives a comparable run)")
    return "\n".join(lines)
