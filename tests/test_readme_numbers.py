"""No README states a result that no record, paper table or generated section produced.

Scanned: ``README.md`` and the five method READMEs, outside their generated sections (every block between
``<!-- <name>:start ... -->`` and ``<!-- <name>:end -->``), code spans and link targets. Code spans are exempt on
purpose: flags, hyper-parameters (`0.05`, `lr 2e-4`), file names and commands are written there; so is the value
of a flag in a command (``--lr 0.0002``), in a fenced block too. The rest of a fenced block is scanned: a sample
output line or a comment such as ``# about 10 min`` states a result.

A number is *result-like* (the definition is narrow on purpose) when it is

- a decimal with two or more digits after the point: ``0.8283``, ``78.40`` (not a version after a software
  name or an identifier: ``PyTorch 2.13``, ``arXiv 1903.09730``, ``doi:10.24963``);
- a percentage: ``89.2 %``, ``55%``;
- a duration: a number, a space and ``ms``, ``s``, ``min`` or ``h`` (or the words seconds, minutes, hours):
  ``966 s``, ``71 min``, ``12.3 h``; in a range (``9-13 min``, ``77–136 s``) each end is a duration.

Such a number is accepted only when the same text (a duration: the same number and unit) also appears

- in a generated section of the same README;
- in ``paper_tables/*.csv``, as published or as the report prints it (a fraction with four decimals, a percent
  cell with its published decimals);
- in a committed record, formatted as the generators format it (a method README: a record of its own method,
  ``results/<method>/*/result.json``; the top-level README: any record): a metric with four
  decimals, the three accuracies of a run that selects on the test set in percent with two, a wall time in
  seconds (``4,255 s``) and in whole minutes (``71 min``), as ``shared_data.readme.wall_time`` writes them.

Anything else is a hand-typed result: cite the record or generated table it comes from, or remove it (lab notes
belong in the folder's ``NOTES.md``, which is not scanned).
"""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
READMES = ["README.md"] + [f"{folder}/README.md" for folder in
                           ("gamo_keras", "dgc_tf", "caleg_tf", "imsic_torch", "dfg_torch")]

GENERATED = re.compile(r"<!-- ([a-z]+):start[^>]*-->\n(.*?)<!-- \1:end -->", re.S)
CODE_SPAN = re.compile(r"`[^`\n]*`")
LINK_TARGET = re.compile(r"\]\([^)]*\)")
# A version or identifier: the decimal right after one of these words is not a result.
IDENTIFIER = re.compile(r"(?:python|pytorch|torch|tensorflow|tf|keras|cuda|numpy|jax|arxiv|doi|version|v)"
                        r"\s*:?\s*[≤≥<>=~]*\s*$", re.I)
# A flag's value in a command (`--lr 0.0002`, `--epochs=100`) is a setting, not a result.
FLAG_VALUE = re.compile(r"--[\w-]+[ =]$")
NUMBER = r"\d[\d,]*(?:\.\d+)?"
DECIMAL = re.compile(r"(?<![\w.,/-])(\d+\.\d{2,})(?![\w]|\.\d)")
PERCENT = re.compile(r"(?<![\w.,/-])(\d+(?:\.\d+)?)\s?%")
UNITS = {"ms": "ms", "s": "s", "sec": "s", "seconds": "s", "second": "s", "min": "min", "minutes": "min",
         "minute": "min", "h": "h", "hours": "h", "hour": "h"}
DURATION = re.compile(rf"(?<![\w.,/-])({NUMBER})(?:\s*[-–]\s*({NUMBER}))?\s+"
                      rf"({'|'.join(sorted(UNITS, key=len, reverse=True))})\b")


def _plain(number: str) -> str:
    return number.replace(",", "")


def prose(text: str) -> str:
    """The hand-written part of a README: generated sections, code spans and link targets removed. Fenced code
    blocks stay (a sample output or a comment such as ``# about 10 min`` is a claim too); their flag values do
    not count (see :func:`claims`)."""
    text = GENERATED.sub("", text)
    text = LINK_TARGET.sub("]", text)
    return CODE_SPAN.sub("", text)


def _exempt(text: str, start: int) -> bool:
    """A number at ``start`` that is a version or identifier, or a command-line flag's value."""
    before = text[max(0, start - 40):start]
    return bool(IDENTIFIER.search(before[-16:]) or FLAG_VALUE.search(before))


def claims(text: str) -> list[tuple[str, str]]:
    """The result-like numbers of ``text``: ``(kind, token)`` with kind ``number`` (a decimal or a percentage's
    number) or ``duration`` (token ``<number> <unit>``, commas dropped)."""
    out = []
    spans = []
    for m in DURATION.finditer(text):
        spans.append(m.span())
        if not _exempt(text, m.start()):
            unit = UNITS[m.group(3)]
            out += [("duration", f"{_plain(n)} {unit}") for n in (m.group(1), m.group(2)) if n]
    for m in DECIMAL.finditer(text):
        if not any(a <= m.start() < b for a, b in spans) and not _exempt(text, m.start()):
            out.append(("number", m.group(1)))
    for m in PERCENT.finditer(text):
        if not _exempt(text, m.start()):
            out.append(("number", m.group(1)))
    return out


def generated_tokens(text: str) -> set[tuple[str, str]]:
    """Every number of a README's generated sections, as ``claims`` would name it (any number, not only
    result-like ones: a table cell ``0.8283`` allows the same number in prose)."""
    out = set()
    for m in GENERATED.finditer(text):
        body = m.group(2)
        out |= set(claims(body))
        out |= {("number", _plain(n)) for n in re.findall(NUMBER, body)}
    return out


def record_tokens(results_root: Path, method: str = "*") -> set[tuple[str, str]]:
    from shared_data import readme, report, selection

    out = set()
    for path in sorted(results_root.glob(f"{method}/*/result.json")):
        r = json.loads(path.read_text())
        for key, value in r["metrics"].items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out.add(("number", report._num(float(value))))
        acc = selection.run_accuracies(r, selection._read_log(path.parent / "metrics.jsonl"))
        for rule in (acc or {}).values():
            if isinstance(rule, dict) and rule.get("accuracy") is not None:
                out.add(("number", selection._pct(rule["accuracy"])))
        text = readme.wall_time(float(r["wall_time_s"]))
        out |= {t for t in claims(text) if t[0] == "duration"}
        out.add(("duration", f"{float(r['wall_time_s']) / 60:.0f} min"))
    return out


def paper_tokens(folder: Path) -> set[tuple[str, str]]:
    from shared_data import report

    out = set()
    for p in sorted(folder.glob("*.csv")):
        with p.open(newline="") as f:
            for row in csv.DictReader(f):
                out |= {("number", _plain(row[c].strip())) for c in ("value", "std") if (row.get(c) or "").strip()}
    paper = report.load_paper_tables(folder)
    out |= {("number", f"{v:.4f}") for v in paper["value"]}
    for cell in report.paper_cells_text(paper).values():
        out |= {("number", n) for n in re.findall(r"\d+\.\d+", cell)}
    return out


def unsupported(readme: Path, allowed: set) -> list[str]:
    """The result-like numbers in ``readme``'s prose that nothing allows, each with its line."""
    text = readme.read_text()
    allowed = allowed | generated_tokens(text)
    hits = []
    for n, line in enumerate(prose(text).splitlines(), 1):
        for kind, token in claims(line):
            if (kind, token) not in allowed:
                hits.append(f"{token!r}: {line.strip()[:110]}")
    return hits


@pytest.fixture(scope="module")
def allowed():
    return record_tokens(ROOT / "results") | paper_tokens(ROOT / "paper_tables")


@pytest.mark.parametrize("name", READMES)
def test_every_result_in_a_readme_comes_from_a_record_a_paper_table_or_a_generated_section(name, allowed):
    if name != "README.md":  # a method README may quote its own method's records only
        method = Path(name).parent.name.split("_")[0]
        allowed = record_tokens(ROOT / "results", method) | paper_tokens(ROOT / "paper_tables")
    hits = unsupported(ROOT / name, allowed)
    assert not hits, (f"{name}: numbers that no record, paper table or generated section gives (cite the "
                      "record or generated table, move lab notes to NOTES.md, or remove them):\n" + "\n".join(hits))


def test_the_method_readmes_results_and_speed_sections_are_what_the_records_give():
    """The per-method sections are generated: run `make report` and commit."""
    from shared_data import readme, report

    parts = report.tables(ROOT / "results", ROOT / "paper_tables")
    expected = readme.sections(ROOT, ROOT / "results", parts)
    assert {p.parent.name for p in expected} == {Path(n).parent.name for n in READMES[1:]}
    for path, (results_body, speed_body) in expected.items():
        text = path.read_text()
        assert f"{readme.RESULTS_START}\n{results_body}{readme.RESULTS_END}" in text, \
            f"{path.relative_to(ROOT)}: results section is stale: run `make report` and commit"
        assert f"{readme.SPEED_START}\n{speed_body}{readme.SPEED_END}" in text, \
            f"{path.relative_to(ROOT)}: speed section is stale: run `make report` and commit"


def test_a_hand_typed_number_is_caught_and_a_generated_one_is_not(tmp_path, allowed):
    """A README whose generated section holds a record's ACSA: that number may be quoted in the prose; a number
    typed by hand (a decimal, a percentage, a duration, either end of a range) may not; code spans, versions and
    identifiers are not results."""
    readme = tmp_path / "README.md"
    section = "<!-- results:start (generated) -->\n| run | ACSA | wall time |\n|---|---|---|\n| a | 0.8311 | 612 s |\n" \
              "<!-- results:end -->\n"
    readme.write_text("# toy\n\nOurs reaches 0.8311 in 612 s (the table below).\n\n" + section +
                      "Built on PyTorch 2.13 (arXiv 1903.09730), with `--lr 0.0002` and `0.05` as in the paper.\n")
    assert unsupported(readme, allowed) == []
    for planted, token in [("ACSA 0.8312", "0.8312"), ("a gain of 3.5 %", "3.5"), ("about 1234 min", "1234 min"),
                           ("612-9999 s per run", "9999 s"), ("0.83 on every split", "0.83"),
                           ("took 1.5 h", "1.5 h"), ("```\nrun.py --lr 0.0002   # 0.9876 after 3 epochs\n```", "0.9876")]:
        assert ("duration" if token[-1].isalpha() else "number", token) not in allowed, token  # really hand-typed
        readme.write_text(readme.read_text() + f"\nIt gives {planted}.\n")
        hits = unsupported(readme, allowed)
        assert len(hits) == 1 and hits[0].startswith(repr(token)), (planted, hits)
        readme.write_text(readme.read_text().replace(f"\nIt gives {planted}.\n", ""))
    # the same number is accepted once a record gives it: every committed record's wall time, in minutes too
    some = sorted(t for t in allowed if t[0] == "duration" and t[1].endswith(" min"))[0][1]
    readme.write_text(readme.read_text() + f"\nA run took {some}.\n")
    assert unsupported(readme, allowed) == []


def test_the_generator_writes_a_method_readme_from_its_records_and_its_bench_output(tmp_path):
    """`make report` on a repository with one committed DFG record: the method README's results section sets the
    faithful full-budget run beside the paper's cell and lists the run with its three accuracies, wall time and
    commit; the speed section names the bench command and shows no number until a bench output is committed;
    the prose around the sections is left alone."""
    import shutil

    from shared_data import readme, report

    record = "fashion-dfg-dfg-split0-seed0-full"
    shutil.copytree(ROOT / "results" / "dfg" / record, tmp_path / "results" / "dfg" / record)
    folder = tmp_path / "dfg_torch"
    folder.mkdir()
    (folder / "bench.py").write_text('"""Speed of one iteration on this machine.\n\nMore.\n"""\n')
    (folder / "targets.mk").write_text("bench-dfg: ; cd dfg_torch && python bench.py\n")
    body = (f"# dfg\nProse stays.\n{readme.RESULTS_START}\nold\n{readme.RESULTS_END}\nmiddle\n"
            f"{readme.SPEED_START}\nold\n{readme.SPEED_END}\nend\n")
    (folder / "README.md").write_text(body)
    report.build_report(tmp_path / "results", ROOT / "paper_tables", repo=tmp_path)
    text = (folder / "README.md").read_text()
    assert text.startswith("# dfg\nProse stays.\n") and "\nmiddle\n" in text and text.endswith("end\n")
    assert "old" not in text
    r = json.loads((ROOT / "results" / "dfg" / record / "result.json").read_text())
    assert (f"| DFG | dfg | fashion | dfg-ir40 | accuracy | 0.8265 ± 0.0028 | {r['metrics']['accuracy']:.4f} | "
            f"best on test (selected on the test set) | 1 (0) |") in text
    row = [line for line in text.splitlines() if line.startswith("| dfg | fashion | dfg-ir40 | full | 0 | 0 | full |")]
    assert len(row) == 1, text
    cells = [c.strip() for c in row[0].split("|")[1:-1]]
    assert cells[7] == f"{r['metrics']['acsa']:.4f}"
    assert cells[8] == f"{100 * r['extra']['best_test_accuracy']:.2f} ({r['extra']['best_step']:,})"
    assert cells[11] == readme.wall_time(r["wall_time_s"]) and cells[11].endswith(f"({r['wall_time_s'] / 60:.0f} min)")
    assert cells[13] == f"`{r['git_commit'][:7]}`"
    speed = text[text.index(readme.SPEED_START):]
    assert "No output of `dfg_torch/bench.py` is committed" in speed and "`make bench-dfg`" in speed
    assert "speed of one iteration on this machine" in speed and not re.search(r"\d", speed.split("-->", 1)[1])
    (tmp_path / "results" / "dfg" / "bench.json").write_text(json.dumps({"ms per iteration, 2 threads": 66.7}))
    report.build_report(tmp_path / "results", ROOT / "paper_tables", repo=tmp_path)
    speed = (folder / "README.md").read_text().split(readme.SPEED_START)[1]
    assert "| ms per iteration, 2 threads | 66.7 |" in speed and "No output" not in speed
