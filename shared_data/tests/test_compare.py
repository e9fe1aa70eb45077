"""A finished run beside its committed record and the paper's cell (shared_data.compare), on hand-made records."""
import copy
import functools

import pytest

from shared_data import compare
from shared_data.records import atomic_write_json
from test_records import _result

AUTHORS = "Doe, Roe"
SOURCE = f"{AUTHORS}. A toy paper. Venue 2020"


def _put(folder, record):
    """``record`` written as ``folder/result.json``; the folder back."""
    atomic_write_json(folder / "result.json", record)
    return folder


@functools.lru_cache(maxsize=None)
def _made(variant="toy", budget="smoke"):
    return _result(variant=variant, budget=budget)


def _record(created, acsa=None, variant="toy", budget="smoke", **fields):
    """A record made at ``created``, with ``acsa`` as its ACSA and ``fields`` replaced (None removes one)."""
    r = copy.deepcopy(_made(variant, budget))
    r["created_utc"] = created
    if acsa is not None:
        r["metrics"] = dict(r["metrics"], acsa=acsa)
    for key, value in fields.items():
        if value is None:
            r.pop(key, None)
        else:
            r[key] = value
    return r


def test_committed_records_are_the_run_folder_and_its_device_folders_oldest_first(tmp_path):
    method = tmp_path / "results" / "toy"
    made = {"run": "2024-03-01T00:00:00Z", "run--gpu-h100": "2024-01-01T00:00:00Z",
            "run--cpu": "2024-02-01T00:00:00Z"}
    for name, created in made.items():
        _put(method / name, _record(created))
    _put(method / "runx", _record("2023-01-01T00:00:00Z"))  # another run whose name starts alike
    (method / "run--torn").mkdir()
    (method / "run--torn" / "result.json").write_text('{"method": "toy", "crea')
    (method / "run--empty").mkdir()  # a folder without a record
    found = compare.committed_records(tmp_path / "results", "toy", "run")
    assert [p.name for p, _ in found] == sorted(made, key=made.get)
    assert [r["created_utc"] for _, r in found] == sorted(made.values())
    assert all(p == method / p.name for p, _ in found)
    assert compare.committed_records(tmp_path / "results", "toy", "runx")[0][0].name == "runx"
    assert compare.committed_records(tmp_path / "results", "toy", "other") == []
    assert compare.committed_records(tmp_path / "nowhere", "toy", "run") == []


@pytest.mark.parametrize("method, run_name", [("../outside", "run"), ("toy", "../outside"), ("..", "run"),
                                              ("toy", ".."), ("toy/../toy", "run"), ("toy", "a/run"), ("", "run"),
                                              ("toy", ""), ("toy", "/outside")])
def test_committed_records_of_an_unsafe_method_or_run_name_are_none(tmp_path, method, run_name):
    for folder in ("results/toy/run", "results/toy/a/run", "results/toy/--x", "results/run", "results/outside",
                   "outside/run"):  # records an unsafe name could reach
        _put(tmp_path / folder, _record("2024-01-01T00:00:00Z"))
    assert compare.committed_records(tmp_path / "results", method, run_name) == []


def test_rerun_of_leaves_out_the_very_run_and_keeps_the_others(tmp_path):
    results = tmp_path / "results"
    plain = _put(results / "toy" / "run", _record("2024-01-01T00:00:00Z"))
    device = _put(results / "toy" / "run--gpu", _record("2024-02-01T00:00:00Z"))
    # the committed folder itself, read from its result.json: only the other record is a re-run of it
    assert [p for p, _ in compare.rerun_of(plain, results)] == [device]
    # a fresh run of the same name elsewhere re-runs both, oldest first
    fresh = _put(tmp_path / "runs" / "toy" / "run", _record("2024-03-01T00:00:00Z"))
    assert [p for p, _ in compare.rerun_of(fresh, results)] == [plain, device]
    # the run's record passed in rather than read: its created_utc decides, not the file in run_dir
    passed = _record("2024-02-01T00:00:00Z")
    assert [p for p, _ in compare.rerun_of(fresh, results, passed)] == [plain]
    bare = tmp_path / "elsewhere" / "run"
    bare.mkdir(parents=True)
    assert [p for p, _ in compare.rerun_of(bare, results, passed)] == [plain]
    assert [r["created_utc"] for _, r in compare.rerun_of(bare, results, _record("2024-09-09T00:00:00Z"))] == \
        ["2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z"]


def test_rerun_of_a_folder_without_result_json_is_empty(tmp_path):
    results = tmp_path / "results"
    _put(results / "toy" / "run", _record("2024-01-01T00:00:00Z"))
    bare = tmp_path / "runs" / "toy" / "run"
    bare.mkdir(parents=True)
    assert compare.rerun_of(bare, results) == []
    (bare / "result.json").write_text("not json")
    assert compare.rerun_of(bare, results) == []


def test_a_run_without_a_committed_record_says_so(tmp_path):
    run = _put(tmp_path / "runs" / "toy" / "run", _record("2024-01-01T00:00:00Z", acsa=0.75))
    _put(tmp_path / "results" / "toy" / "other", _record("2023-01-01T00:00:00Z"))
    text = compare.compare_text(run, tmp_path / "results", tmp_path / "no-paper")
    assert f"no committed record of this run under {tmp_path / 'results'}/toy/" in text
    assert "re-runs" not in text
    assert f"your run       ACSA {0.75:.4f}" in text
    assert "no result.json to compare" in compare.compare_text(tmp_path / "empty", tmp_path / "results")


NOTES = ("same machine identity: predictions identical, bit for bit",
         "same machine identity, yet other predictions",
         "another machine identity: expect a difference from float rounding alone",
         "the record names no machine identity",
         "same machine identity (the record has no predictions hash to compare)")


@pytest.mark.parametrize("mine_id, mine_sha, record_id, record_sha, note", [
    ("m1", "aa" * 32, "m1", "aa" * 32, NOTES[0]),
    ("m1", "aa" * 32, "m1", "bb" * 32, NOTES[1]),
    ("m1", "aa" * 32, "m2", "aa" * 32, NOTES[2]),
    ("m1", "aa" * 32, None, "aa" * 32, NOTES[3]),
    (None, "aa" * 32, "m1", "aa" * 32, NOTES[3]),
    ("m1", "aa" * 32, "m1", None, NOTES[4]),
])
def test_a_rerun_shows_the_record_the_acsa_delta_and_whether_predictions_match(tmp_path, mine_id, mine_sha,
                                                                               record_id, record_sha, note):
    mine_acsa, record_acsa = 0.80, 0.79
    committed = _put(tmp_path / "results" / "toy" / "run--gpu",
                     _record("2024-01-01T00:00:00Z", acsa=record_acsa, machine_id=record_id,
                             predictions_sha256=record_sha, git_commit="c0ffee" * 7))
    run = _put(tmp_path / "runs" / "toy" / "run", _record("2024-02-01T00:00:00Z", acsa=mine_acsa, machine_id=mine_id,
                                                          predictions_sha256=mine_sha))
    text = compare.compare_text(run, tmp_path / "results", tmp_path / "no-paper")
    assert "it re-runs the committed record:" in text and "no committed record" not in text
    record_line = next(line for line in text.splitlines() if line.lstrip().startswith("record "))
    assert f"ACSA {record_acsa:.4f}" in record_line and str(committed) in record_line
    assert f"commit {('c0ffee' * 7)[:12]}" in record_line
    assert f"machine {record_id or 'unrecorded'}" in record_line
    assert f"ACSA {mine_acsa - record_acsa:+.4f} from the record; {note}" in text
    assert [n for n in NOTES if n in text] == [note]


def test_a_run_lower_than_its_records_shows_a_negative_delta_for_each(tmp_path):
    older = _put(tmp_path / "results" / "toy" / "run", _record("2024-01-01T00:00:00Z", acsa=0.70))
    newer = _put(tmp_path / "results" / "toy" / "run--gpu", _record("2024-02-01T00:00:00Z", acsa=0.90))
    run = _put(tmp_path / "runs" / "toy" / "run", _record("2024-03-01T00:00:00Z", acsa=0.85))
    text = compare.compare_text(run, tmp_path / "results", tmp_path / "no-paper")
    assert "it re-runs the committed records:" in text
    deltas = [line.split("ACSA ")[1].split()[0] for line in text.splitlines() if "from the record" in line]
    assert deltas == [f"{0.85 - 0.70:+.4f}", f"{0.85 - 0.90:+.4f}"]
    assert text.index(str(older)) < text.index(str(newer))


def _paper(tmp_path):
    """Two paper tables: fractions under ``dgc``, percent under ``dfg-ir40`` (as the real CSVs publish them)."""
    paper = tmp_path / "paper"
    paper.mkdir()
    (paper / "a.csv").write_text("source,table,dataset,protocol,method,metric,value,std\n"
                                 f'"{SOURCE}",2,toy,dgc,TOY,ACSA,0.5000,0.01\n'
                                 f'"{SOURCE}",2,toy,dgc,TOY,GM,0.4500,\n'
                                 f'"{SOURCE}",2,toy,dgc,OTHER,ACSA,0.1234,0.01\n'
                                 f'"{SOURCE}",2,mnist,dgc,TOY,ACSA,0.9876,0.01\n')
    (paper / "b.csv").write_text("source,table,dataset,protocol,method,metric,value,std,backbone\n"
                                 f'"{SOURCE}",main,toy,dfg-ir40,TOY,accuracy,77.13,3.24,LeNet\n')
    return paper


def _paper_line(text):
    return next(line for line in text.splitlines() if line.lstrip().startswith("paper"))


def test_a_faithful_full_budget_run_is_shown_beside_its_paper_cell(tmp_path):
    run = _put(tmp_path / "runs" / "toy" / "run", _record("2024-01-01T00:00:00Z", budget="full"))
    text = compare.compare_text(run, tmp_path / "results", _paper(tmp_path))
    assert "protocol dgc" in text
    line = _paper_line(text)
    assert line.lstrip().startswith("paper: ") and "not comparable" not in text
    assert f"ACSA 0.5000 ± 0.01; GM 0.4500   [{AUTHORS}, table 2]" in line
    assert "0.1234" not in text and "0.9876" not in text  # another method, another dataset


def test_a_percent_table_cell_is_found_through_the_split_ids_protocol_key(tmp_path):
    run = _put(tmp_path / "runs" / "toy" / "run", _record("2024-01-01T00:00:00Z", budget="full",
                                                          split_id="toy-dfg-ir40-s3"))
    text = compare.compare_text(run, tmp_path / "results", _paper(tmp_path))
    assert "protocol dfg-ir40" in text
    assert _paper_line(text) == f"   paper: accuracy {77.13 / 100:.4f} ± {3.24 / 100:.4f}   [{AUTHORS}, table main]"


@pytest.mark.parametrize("fields, reason", [
    (dict(budget="quick"), "a quick run is a check, not a reproduction"),
    (dict(budget="smoke"), "a smoke run is a check, not a reproduction"),
    (dict(budget="full", variant="toy+fix"), "a fix is on"),
    (dict(budget="full", eval_subset=50, split_id="toy-dgc-s0-test50"), "scored on a test subset"),
])
def test_a_run_that_is_no_reproduction_says_why_beside_the_paper_cell(tmp_path, fields, reason):
    run = _put(tmp_path / "runs" / "toy" / "run", _record("2024-01-01T00:00:00Z", **fields))
    text = compare.compare_text(run, tmp_path / "results", _paper(tmp_path))
    assert "protocol dgc" in text
    assert _paper_line(text).lstrip().startswith(f"paper (not comparable: {reason}): ACSA 0.5000 ± 0.01")


def test_a_protocol_without_a_cell_lists_the_protocols_that_have_one(tmp_path):
    run = _put(tmp_path / "runs" / "toy" / "run", _record("2024-01-01T00:00:00Z", budget="full",
                                                          split_id="toy-gamo-s1"))
    text = compare.compare_text(run, tmp_path / "results", _paper(tmp_path))
    assert "paper: no published cell for TOY on toy under protocol gamo" in text
    assert ("published under protocol dgc: ACSA 0.5000 ± 0.01; GM 0.4500 (run.py --protocol dgc gives a "
            "comparable run)") in text
    assert (f"published under protocol dfg-ir40: accuracy {77.13 / 100:.4f} ± {3.24 / 100:.4f} (run.py --protocol "
            "dfg gives a comparable run)") in text
    assert "0.1234" not in text and "0.9876" not in text
    nothing = _put(tmp_path / "runs" / "lone" / "run", _record("2024-01-01T00:00:00Z", paper_method="NONE"))  # no cells
    alone = compare.compare_text(nothing, tmp_path / "results", tmp_path / "paper")
    assert "no published cell for NONE on toy under protocol dgc" in alone and "published under" not in alone
