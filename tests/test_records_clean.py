"""Every committed record names the code that made it: a commit, never uncommitted changes on top of one.

A record whose ``git_commit`` ends with ``+dirty`` was made by code that no commit holds, so no one can re-make it
or say which code gave its numbers; it is made again from a commit and published (``make reproduce-*``), or
deleted. ``python -m shared_data publish`` refuses such a run unless ``--allow-dirty``, which the committed
results never use.
"""
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _records():
    return sorted((ROOT / "results").glob("*/*/result.json"))


def test_no_committed_record_was_made_from_uncommitted_code():
    found = _records()
    assert found, "no committed record under results/"
    dirty = []
    for path in found:
        record = json.loads(path.read_text())
        commit = str(record.get("git_commit", ""))
        if commit.endswith("+dirty") or record.get("published_with_allow_dirty"):
            dirty.append(f"{path.parent.relative_to(ROOT)} ({commit})")
    assert not dirty, (f"{len(dirty)} committed record(s) made from uncommitted code (re-make them from a commit, "
                       f"or delete them):\n" + "\n".join(dirty))
