import json

import pytest

from shared_data import migrate, records
from test_records import _result


def _v1(**over):
    r = _result(**over)
    for key in ("faithful", "fixes", "paper_method", "eval_subset"):
        r.pop(key)
    r.update(schema=migrate.V1_SCHEMA, variant="toy+ce")
    return r


def test_v1_records_are_upgraded_and_their_folders_renamed(tmp_path):
    (tmp_path / "toy_np").mkdir()
    (tmp_path / "toy_np" / "fixes.py").write_text(
        "from shared_data.variants import Fix, resolve, values\n"
        "FIXES = (Fix('ce_reduction', 'sum', choices=('sum', 'mean'), help='x'),)\nPAPER_METHOD = 'TOY'\n"
        "def paper_method_of(config):\n    return None if config.get('model') == 'baseline' else PAPER_METHOD\n"
        "def variant_of(config):\n    base = 'baseline' if config.get('model') == 'baseline' else 'toy'\n"
        "    return resolve(values(config, FIXES), FIXES, base)\n")
    results = tmp_path / "results"
    a = _v1(config={"ce_reduction": "mean"}, device="cpu: X (2 cores), tensorflow")
    a["extra"] = {"test_subset_per_class": 50}
    records.atomic_write_json(results / "toy" / "mnist-dgc-r1-cemean-split0-seed1-smoke" / "result.json", a)
    b = _v1(config={"model": "baseline"})
    records.atomic_write_json(results / "toy" / "old--cpu-x" / "result.json", b)
    (results / "toy" / "old--cpu-x" / "metrics.jsonl").write_text("{}\n")
    assert len(migrate.migrate_tree(results, tmp_path, dry_run=True)) == 2
    assert (results / "toy" / "old--cpu-x" / "result.json").exists()  # a dry run changes nothing
    migrate.migrate_tree(results, tmp_path)
    names = sorted(p.name for p in (results / "toy").iterdir())
    assert names == ["toy-dgc-baseline-split0-seed1-smoke--cpu-x", "toy-dgc-toy+ce-reductionmean-split0-seed1-smoke"]
    new_a = json.loads((results / "toy" / names[1] / "result.json").read_text())
    assert (new_a["variant"], new_a["faithful"], new_a["fixes"], new_a["eval_subset"], new_a["paper_method"]) == \
        ("toy+ce-reduction=mean", False, {"ce_reduction": "mean"}, 50, "TOY")
    assert (new_a["device"], new_a["framework"]) == ("cpu: X (2 cores)", "numpy (tensorflow backend)")
    assert new_a["migrated_from"] == "shared_data/result/v1"
    new_b = json.loads((results / "toy" / names[0] / "result.json").read_text())
    assert (new_b["variant"], new_b["faithful"], new_b["paper_method"], new_b["eval_subset"]) == \
        ("baseline", True, None, "full")
    assert (results / "toy" / names[0] / "metrics.jsonl").exists()
    assert migrate.migrate_tree(results, tmp_path) == []  # idempotent


def test_a_method_without_a_fix_table_stops_the_migration(tmp_path):
    records.atomic_write_json(tmp_path / "results" / "toy" / "a" / "result.json", _v1())
    with pytest.raises(records.ResultValidationError, match="toy_\\*/fixes.py"):
        migrate.migrate_tree(tmp_path / "results", tmp_path)
