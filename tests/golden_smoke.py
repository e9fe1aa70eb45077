"""Golden smoke predictions: every array of each method's smoke-run ``predictions.npz``, hashed, per machine.

A restructuring of the run code must leave every method's predictions bit-identical. The smoke plan (the one
``tests/test_contract.py`` runs) is the yardstick: its five runs were made before a change, their arrays hashed
here, and the contract test compares the same runs after it. Bit-identity holds only on a machine that computes
the same way (``shared_data.identity.machine_id``), so the file keeps one entry per machine id; on a machine with
no entry the comparison is skipped and says how to record one, from a commit known to be right:

    python tests/golden_smoke.py record <smoke runs folder>    # e.g. the --runs folder of `benchmark run smoke`
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

GOLDEN = Path(__file__).resolve().parent / "golden" / "smoke_predictions.json"


def array_digests(npz: Path) -> dict[str, str]:
    """sha256 of each array in ``npz`` over its dtype, shape and bytes (the zip's own metadata plays no part)."""
    out = {}
    with np.load(npz, allow_pickle=False) as f:
        for name in sorted(f.files):
            a = np.ascontiguousarray(f[name])
            h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
            h.update(a.tobytes())
            out[name] = h.hexdigest()
    return out


def smoke_digests(runs: Path) -> dict[str, dict[str, dict[str, str]]]:
    """{machine id: {"<method>/<run folder>": array digests}} of every finished run under ``runs`` (a run's
    machine id includes the thread counts its framework reports, so two frameworks on one machine differ)."""
    found: dict = {}
    for pred in sorted(runs.glob("*/*/predictions.npz")):
        result = json.loads((pred.parent / "result.json").read_text())
        found.setdefault(result["machine_id"], {})[f"{pred.parent.parent.name}/{pred.parent.name}"] = \
            array_digests(pred)
    if not found:
        raise SystemExit(f"no finished runs (*/*/predictions.npz) under {runs}")
    return found


def load() -> dict:
    return json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}


def record(runs: Path) -> None:
    found = smoke_digests(runs)
    golden = load()
    for machine_id, digests in found.items():
        golden.setdefault(machine_id, {}).update(digests)
    GOLDEN.parent.mkdir(exist_ok=True)
    tmp = GOLDEN.with_suffix(".tmp")
    tmp.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")
    tmp.replace(GOLDEN)
    for machine_id, digests in found.items():
        print(f"recorded {len(digests)} smoke runs for machine {machine_id} in {GOLDEN}")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "record":
        raise SystemExit(__doc__)
    record(Path(sys.argv[2]))
