"""The plan's CSV, the README comparison section and the plot, from published result.json files."""
import json
import tomllib

import numpy as np
import pandas as pd
import pytest

from benchmark import plan as plans
from benchmark import results
from benchmark.engine import Runner
from shared_data import records

from .conftest import PACKAGE_ROOT as ROOT
from .fake_run import write_run


def _publish(repo, budget="smoke", device=None):
    """Every run of the fake plan, published as run.py --publish does (no runner, no subprocess)."""
    plan = plans.load(repo.plan)
    runs = repo.runs / (records.device_slug(device) if device else "")
    for job in plan.jobs:
        run = write_run(runs, job.method, job.dataset, job.protocol, job.split_seed, job.seed, budget,
                        job.variant, baseline=job.role == "baseline", device=device)
        records.publish(run.path, repo.results, allow_dirty=True)


def _runner(repo, plan=None):
    return Runner(plan or plans.load(repo.plan), repo=repo.root, runs=repo.runs, data_root=repo.root / "data",
                  results=repo.results, log=lambda line: None)


def test_the_csv_has_one_row_per_published_run_and_the_table_averages_them(repo):
    _publish(repo)
    runner = _runner(repo)
    csv, n = results.write_outputs(runner.plan, runner.jobs, runner.index(), repo.results, repo.root)
    assert n == 6 and csv == repo.results / "benchmark" / "plan.csv"
    frame = results.read_csv(csv)
    assert list(frame["role"]) == ["method"] * 2 + ["baseline"] * 2 + ["method"] * 2

    text = results.comparison(frame, pd.DataFrame())
    # the alpha row: mean and sample std of the two published runs, recomputed here from the files themselves
    acsa = [json.loads((repo.results / "alpha" / f"mnist-dgc-alpha-split{s}-seed0-smoke" / "result.json")
                       .read_text())["metrics"]["acsa"] for s in (1, 2)]
    gm = [json.loads((repo.results / "alpha" / f"mnist-dgc-alpha-split{s}-seed0-smoke" / "result.json")
                     .read_text())["metrics"]["gm_gamo"] for s in (1, 2)]
    row = next(line for line in text.splitlines() if line.startswith("| alpha | alpha |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2:7] == ["method", "2 (1,2)", "smoke", "full", records.describe_device()]
    assert cells[7] == f"{np.mean(acsa):.4f} ± {np.std(acsa, ddof=1):.4f}"
    assert cells[8] == f"{np.mean(gm):.4f} ± {np.std(gm, ddof=1):.4f}"
    assert cells[10] == "", "a smoke run is never set beside a paper's number"
    assert "| alpha | baseline | baseline | 2 (1,2) |" in text
    # methods in plan order, each method's baseline right after it
    order = [line.split("|")[1:3] for line in text.splitlines() if line.startswith("| ") and "---" not in line
             and not line.startswith("| method")]
    assert [(m.strip(), v.strip()) for m, v in order] == [("alpha", "alpha"), ("alpha", "baseline"),
                                                          ("beta", "beta")]
    assert (repo.results / "benchmark" / "plan_per_class_recall.png").read_bytes()[:4] == b"\x89PNG"


def test_a_full_budget_row_stands_beside_the_papers_value_and_runs_on_two_devices_stay_apart(repo):
    _publish(repo, budget="full")
    _publish(repo, budget="full", device="gpu: Fake GPU x1")
    (repo.root / "paper_tables" / "alpha.csv").write_text(
        "source,table,method,dataset,protocol,metric,value,std\n"
        "Fake paper,1,ALPHA,mnist,dgc,ACSA,81.5,1.2\nFake paper,1,ALPHA,mnist,dgc,GM,70.0,\n")
    plan = plans.expand({**tomllib.loads(repo.plan.read_text()), "budget": "full"}, repo.plan)
    runner = _runner(repo, plan)
    csv, n = results.write_outputs(plan, runner.jobs, runner.index(), repo.results, repo.root)
    assert n == 12
    from shared_data import report

    text = results.comparison(results.read_csv(csv), report.load_paper_tables(repo.root / "paper_tables"))
    rows = [line for line in text.splitlines() if line.startswith("| alpha | alpha |")]
    assert len(rows) == 2 and {r.split("|")[7].strip() for r in rows} == {records.describe_device(), "gpu: Fake GPU x1"}
    # the paper's std with the precision it was published with: 1.2 % is 0.012, not 0.0120
    assert all(r.rstrip().endswith("| ACSA 0.8150 ± 0.012; GM 0.7000 |") for r in rows)
    assert all(r.rstrip().endswith("|  |") for r in text.splitlines() if r.startswith("| beta |"))


def test_the_readme_section_says_a_plan_without_a_csv_has_not_run(repo, tmp_path):
    plan = plans.load(repo.plan)
    text = results.section([plan], repo.results, repo.root, repo.root / "paper_tables")
    assert "#### Plan `plan` (6 runs: `make benchmark PLAN=plan`)" in text
    assert "Not run yet: no `results/benchmark/plan.csv`." in text
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{results.README_START}\nold\n{results.README_END}\nafter\n")
    assert results.update_readme(readme, text) is True
    assert readme.read_text() == f"intro\n{results.README_START}\n{text}{results.README_END}\nafter\n"
    assert results.update_readme(readme, text) is False
    readme.write_text("no section here\n")
    with pytest.raises(ValueError, match="no benchmark section"):
        results.update_readme(readme, text)


def test_an_invalid_published_result_does_not_count_as_done(repo):
    _publish(repo)
    path = repo.results / "beta" / "mnist-dgc-beta-split1-seed0-smoke" / "result.json"
    broken = json.loads(path.read_text())
    broken["metrics"]["acsa"] = 1.5
    path.write_text(json.dumps(broken))
    found, problems = results.published(repo.results, ["alpha", "beta"])
    assert len(found) == 5 and len(problems) == 1 and "metrics.acsa = 1.5" in problems[0]
    states = {j.name: st.state for j, st in _runner(repo).statuses()}
    assert states.pop("beta_np--beta--mnist-dgc-split1-seed0-smoke") == "missing"
    assert set(states.values()) == {"done"}


def test_the_repository_readme_benchmark_section_is_what_the_committed_csvs_give():
    """Generated, never typed: run `python -m benchmark report --readme README.md` and commit."""
    from benchmark.cli import _shipped

    text = results.section(_shipped(), ROOT / "results", ROOT, ROOT / "paper_tables")
    readme = (ROOT / "README.md").read_text()
    assert f"{results.README_START}\n{text}{results.README_END}" in readme, \
        "README.md's benchmark section is stale: python -m benchmark report --readme README.md"
