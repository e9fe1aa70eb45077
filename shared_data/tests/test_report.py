import numpy as np
import pytest

from shared_data import metrics, records, report
from test_records import _result

TRUTH = [0, 0, 1, 1, 2, 2]


def _write(root, folder, pred, **over):
    r = _result(metrics=metrics.compute(TRUTH, pred, train_counts=[3, 2, 1]), **over)
    records.atomic_write_json(root / "results" / "toy" / folder / "result.json", r)
    return r


def _paper(tmp_path, rows):
    paper = tmp_path / "paper"
    paper.mkdir(exist_ok=True)
    (paper / "t.csv").write_text("source,table,dataset,protocol,method,metric,value,std\n" + rows)
    return paper


def test_only_faithful_full_budget_runs_on_the_full_test_set_meet_the_paper(tmp_path):
    paper = _paper(tmp_path, "X,2,toy,dgc,TOY,ACSA,0.5000,0.01\nX,3,toy,dgc,TOY,RMI,0.2500,\n")
    for seed, pred in [(1, [0, 0, 1, 2, 2, 2]), (2, [0, 0, 1, 1, 2, 2])]:
        _write(tmp_path, f"full{seed}", pred, seed=seed, budget="full", split=_split_seed(seed))
    _write(tmp_path, "quick", [0, 0, 0, 0, 0, 0], budget="quick")  # a check, never beside the paper
    _write(tmp_path, "fix", [0, 0, 1, 1, 2, 2], budget="full", variant="toy+fix")  # a variant: method README only
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{report.README_START}\nold\n{report.README_END}\ntail\n")
    text = report.build_report(tmp_path / "results", paper, plot_dir=tmp_path / "plots", readme=readme)
    reproductions, checks = text.split("### Checks")
    acsa = [np.mean([1, 0.5, 1]), 1.0]
    assert (f"| TOY | toy | toy | dgc | ACSA | 0.5000 ± 0.01 | {np.mean(acsa):.4f} ± {np.std(acsa, ddof=1):.4f} | "
            f"not recorded | 2 (1,2) | cpu: test | {np.mean(acsa) - 0.5:+.4f} | no |") in reproductions
    assert ("| TOY | toy | toy | dgc | RMI | 0.2500 | 1.0000 ± 0.0000 | not recorded | 2 (1,2) | cpu: test | +0.7500 "
            "| no |") in reproductions  # no paper std: our own spread (0) decides
    assert "Paper: X, table 2." in reproductions
    assert "quick" not in reproductions and "toy+fix" not in text
    assert "| toy | toy | toy | dgc | quick | full | cpu: test | 1 (0) | not recorded | 0.3333 |" in checks
    assert (tmp_path / "plots" / "per_class_recall.png").stat().st_size > 1000
    assert (tmp_path / "plots" / "ours_vs_paper.png").stat().st_size > 1000
    body = readme.read_text()
    assert "old" not in body and reproductions.strip()[:200] in body and body.endswith("tail\n")


def test_within_spread_uses_both_spreads(tmp_path):
    paper = _paper(tmp_path, "X,2,toy,dgc,TOY,ACSA,0.9000,0.05\n")
    _write(tmp_path, "full", [0, 0, 1, 1, 2, 2], budget="full")  # ACSA 1.0: Δ 0.1 > 0.05
    assert "| +0.1000 | no |" in report.build_report(tmp_path / "results", paper)
    paper = _paper(tmp_path, "X,2,toy,dgc,TOY,ACSA,0.9000,0.15\n")
    assert "| +0.1000 | yes |" in report.build_report(tmp_path / "results", paper)


def test_a_test_subset_or_a_missing_paper_cell_is_a_check(tmp_path):
    paper = _paper(tmp_path, "X,2,toy,dgc,TOY,ACSA,0.5000,0.01\n")
    r = _result(metrics=metrics.compute(TRUTH, TRUTH, train_counts=[3, 2, 1]), budget="full")
    r["eval_subset"] = 2
    records.atomic_write_json(tmp_path / "results" / "toy" / "a" / "result.json", r)
    text = report.build_report(tmp_path / "results", paper)
    assert "No faithful full-budget run" in text and "| full | 2/class |" in text
    r = dict(r, eval_subset="full", paper_method=None)
    records.atomic_write_json(tmp_path / "results" / "toy" / "a" / "result.json", r)
    assert "No faithful full-budget run" in report.build_report(tmp_path / "results", paper)


def test_a_paper_table_in_percent_is_read_as_fractions(tmp_path):
    paper = _paper(tmp_path, "X,1,toy,dgc-ir40,TOY,accuracy,77.13,3.24\n")
    df = report.load_paper_tables(paper)
    assert np.isclose(df["value"].iloc[0], 0.7713) and np.isclose(df["std"].iloc[0], 0.0324)
    assert report.protocol_key("fashion-dfg-ir40-s1-test50", "fashion") == "dfg-ir40"
    assert report.protocol_key("mnist-dgc-s3", "mnist") == "dgc"


def test_empty_results_say_so(tmp_path):
    text = report.build_report(tmp_path / "none", tmp_path / "none")
    assert "No faithful full-budget run" in text and "_None._" in text


def test_variants_are_compared_with_their_faithful_base_pair_by_pair(tmp_path):
    preds = {("toy", 1): [0, 0, 1, 2, 2, 2], ("toy", 2): [0, 0, 1, 1, 2, 2],
             ("toy+fix", 1): [0, 0, 1, 1, 2, 2], ("toy+fix", 2): [0, 0, 1, 1, 2, 2],
             ("toy+fix", 3): [0, 1, 1, 1, 2, 2],  # seed 3 has no faithful partner: left out
             ("toy r=2", 1): [0, 0, 1, 1, 2, 2], ("toy r=2+fix", 1): [0, 1, 1, 1, 2, 2]}
    for (variant, seed), pred in preds.items():
        _write(tmp_path, f"{variant}-{seed}", pred, seed=seed, split=_split_seed(seed), variant=variant)
    _write(tmp_path, "quick", [1] * 6, seed=1, variant="toy+fix", budget="quick")  # no quick faithful run to pair
    deltas = report.paired_deltas(report.load_results(tmp_path / "results")).set_index(["variant", "budget"])
    row = deltas.loc[("toy+fix", "smoke")]
    assert (row["reference"], row["pairs"], row["seeds"]) == ("toy", 2, "1,2")
    d = [1.0 - np.mean([1, 0.5, 1]), 0.0]  # ACSA gain on seed 1, none on seed 2
    assert np.isclose(row["acsa_mean"], np.mean(d)) and np.isclose(row["acsa_std"], np.std(d, ddof=1))
    assert deltas.loc[("toy r=2+fix", "smoke"), "reference"] == "toy r=2"
    assert np.isclose(deltas.loc[("toy r=2+fix", "smoke"), "acsa_mean"], np.mean([1, 0.5, 1]) - 1.0)
    assert deltas.loc[("toy+fix", "quick"), "pairs"] == 0
    method_readme = tmp_path / "toy_numpy" / "README.md"
    method_readme.parent.mkdir()
    method_readme.write_text(f"# toy\n{report.VARIANTS_START}\n_Generated._\n{report.VARIANTS_END}\nend\n")
    text = report.build_report(tmp_path / "results", tmp_path / "none", repo=tmp_path)
    assert "toy+fix" not in text and "toy r=2" in text.split("### Checks")[1]  # a faithful variant is a check
    body = method_readme.read_text()
    assert f"| toy+fix | toy | toy | dgc | smoke | full | cpu: test | 2 (1,2) | {np.mean(d):+.4f} ± " \
           f"{np.std(d, ddof=1):.4f} |" in body
    assert "0 (no faithful run to pair 1 with)" in body and body.endswith("end\n")


def _split_seed(seed):
    from test_records import _split

    s = _split()
    s.split_seed = seed
    return s


def test_a_method_readme_without_the_section_is_left_alone(tmp_path):
    (tmp_path / "other_x").mkdir()
    (tmp_path / "other_x" / "README.md").write_text("# other\n")
    assert report.method_readmes(tmp_path) == {}
    with pytest.raises(ValueError, match="no generated section"):
        report.update_method_readme(tmp_path / "other_x" / "README.md", "x")


def test_the_method_is_compared_with_its_other_models_pair_by_pair(tmp_path):
    right, one_wrong, class_1_lost = [0, 0, 1, 1, 2, 2], [0, 0, 1, 2, 2, 2], [0, 0, 0, 0, 2, 2]
    preds = {("toy", 1): right, ("toy", 2): one_wrong, ("toy", 3): right, ("toy", 4): right, ("toy", 5): right,
             ("baseline", 1): one_wrong, ("baseline", 2): right, ("baseline", 3): right,  # seed 3: a tie
             ("baseline", 4): class_1_lost,  # seed 5 has no baseline partner: left out
             ("toy+fix", 1): [0] * 6}  # a fix: never a model of its own
    for (variant, seed), pred in preds.items():
        _write(tmp_path, f"{variant}-{seed}", pred, seed=seed, split=_split_seed(seed), variant=variant)
    _write(tmp_path, "other-device", [0] * 6, seed=1, split=_split_seed(1), variant="baseline", device="cpu: other")
    c = report.against_primary(report.load_results(tmp_path / "results"))
    assert list(c["other"]) == ["baseline"] and c["device"].iloc[0] == "cpu: test"  # one device per pair
    r = c.iloc[0]
    low = np.mean([1, 0.5, 1])  # ACSA with one class-1 image called 2
    ours, theirs = np.array([1.0, low, 1.0, 1.0]), np.array([low, 1.0, 1.0, 2 / 3])
    d = ours - theirs
    assert (r["pairs"], r["seeds"], r["higher"]) == (4, "1,2,3,4", 2)  # a tie is not higher
    assert np.isclose(r["acsa_mean"], np.mean(d)) and np.isclose(r["acsa_std"], np.std(d, ddof=1))
    assert np.isclose(r["ours_acsa_mean"], ours.mean()) and np.isclose(r["other_acsa_mean"], theirs.mean())
    method_readme = tmp_path / "toy_numpy" / "README.md"
    method_readme.parent.mkdir()
    method_readme.write_text(f"# toy\n{report.VARIANTS_START}\n_Generated._\n{report.VARIANTS_END}\nend\n")
    report.build_report(tmp_path / "results", tmp_path / "none", repo=tmp_path)
    body = method_readme.read_text()
    assert (f"| baseline | toy | dgc | smoke | full | cpu: test | 4 (1,2,3,4) | {ours.mean():.4f} ± "
            f"{ours.std(ddof=1):.4f} | {theirs.mean():.4f} ± {theirs.std(ddof=1):.4f} | 2 of 4 | "
            f"{d.mean():+.4f} ± {d.std(ddof=1):.4f} |") in body
    assert body.index("against the other models") < body.index("| toy+fix |")
    cell = "| baseline | toy | dgc | smoke | full | cpu: test | "
    pair_lines = [line for line in body.splitlines() if line.startswith(cell) and line.count("|") == 14]
    assert len(pair_lines) == 4 and "Pair by pair: the 4 pairs of runs" in body  # seed 5 has no partner
    cells = [c.strip() for c in pair_lines[1].split("|")[1:-1]]
    assert cells[6:11] == ["2", "2", f"{low:.4f}", "1.0000", f"{low - 1:+.4f}"]  # split 2: toy lost one image
    assert report.method_section("toy") == report.variants_section(report.pd.DataFrame(), "toy")


def test_pairs_name_their_training_seeds_where_a_split_repeats():
    frame = report.pd.DataFrame({"split_seed": [0, 0, 0], "seed": [2, 0, 1]})
    assert report._pairs_label(frame) == "0:0,0:1,0:2"
    assert report._pairs_label(frame.assign(seed=0, split_seed=[3, 1, 2])) == "1,2,3"


def test_a_paper_std_keeps_its_published_precision_and_0_00_is_not_a_spread(tmp_path):
    """DGC's table gives stds to two decimals: 0.01 is printed 0.01 (not 0.0100); 0.00 is below the table's
    resolution, printed as published with its bound, and does not make "within spread" true or false by itself."""
    paper = _paper(tmp_path, "X,2,toy,dgc,TOY,ACSA,0.9000,0.00\nX,2,toy,dgc,TOY,Gmacro,0.9000,0.01\n")
    (paper / "u.csv").write_text("source,table,dataset,protocol,method,metric,value,std\n"
                                 "X,2,toy,dgc,TOY,Fmacro,90.00,1.25\n")  # a table in percent
    df = report.load_paper_tables(paper)
    assert list(df["std_decimals"]) == [2, 2, 4]  # the percent table's 1.25 is 0.0125 as a fraction
    _write(tmp_path, "full", [0, 0, 1, 1, 2, 2], budget="full")  # one run, all right: ACSA 1.0, no spread of ours
    text = report.build_report(tmp_path / "results", paper)
    assert ("| TOY | toy | toy | dgc | ACSA | 0.9000 ± 0.00 (< 0.005) | 1.0000 | not recorded | 1 (0) | cpu: test | "
            "+0.1000 | n/a |") in text
    assert "| TOY | toy | toy | dgc | Gmacro | 0.9000 ± 0.01 | " in text \
        and "| TOY | toy | toy | dgc | Fmacro | 0.9000 ± 0.0125 | " in text
    assert "± 0.0000" not in text and "0.0100" not in text
    assert report.paper_std_counts(0.01, 2) and not report.paper_std_counts(0.0, 2)
    assert not report.paper_std_counts(float("nan"), 2) and report.paper_std_counts(0.0125, float("nan"))
    assert report.paper_std_text(0.0, 2) == "0.00 (< 0.005)" and report.paper_std_text(0.0324, 4) == "0.0324"
    assert report.decimals("77.13") == 2 and report.decimals("1e-3") == 3 and np.isnan(report.decimals(""))


def test_the_recall_plot_draws_every_group_names_model_budget_and_device_and_marks_minority_classes(tmp_path):
    """No cap drops a bar group (more than MAX_BARS continue in another panel); a bar's label names the method,
    variant, budget and device; a profile whose split seeds draw other minority classes gets its own panel."""
    rows = []
    for i in range(report.MAX_BARS + 3):  # more groups than one panel holds
        for seed in (1, 2):
            rows.append(dict(method=f"m{i}", variant="baseline" if i % 2 else f"m{i}", paper_method="",
                             dataset="toy", protocol="dgc", protocol_key="dgc", budget="quick", eval_subset="full",
                             device="cpu: Intel(R) Xeon(R) (2 cores)", faithful=True, split_seed=seed, seed=0,
                             wall_time_s=1.0, split_id="toy-dgc-s1", path="x", per_class_recall=[0.9, 0.5, 0.1],
                             train_counts=[300, 100, 10], **{k: 0.5 for k in report.METRIC_FIELDS}))
    rows.append(dict(rows[0], method="d", variant="d", protocol="dfg", protocol_key="dfg-ir10", split_seed=3,
                     train_counts=[10, 300, 10]))
    rows.append(dict(rows[-1], split_seed=4, train_counts=[300, 10, 10]))
    frame = report.results_frame(rows)
    panels = report.recall_panels(frame)
    drawn = [key for panel in panels for key, _ in panel["groups"]]
    assert set(drawn) == set(frame.groupby(report.GROUP, dropna=False).groups), "a bar group was left out"
    assert len(drawn) == report.MAX_BARS + 3 + 2  # d is drawn once per training profile
    dgc = [p for p in panels if p["protocol"] == "dgc"]
    assert [(p["part"], p["parts"], len(p["groups"])) for p in dgc] == [(1, 2, report.MAX_BARS), (2, 2, 3)]
    dfg = [p for p in panels if p["protocol"] == "dfg-ir10"]
    assert [(p["counts"], p["split_seeds"]) for p in dfg] == [((10, 300, 10), [3]), ((300, 10, 10), [4])]
    key = dgc[0]["groups"][1][0]
    assert report.bar_label(key, 2) == f"{key[0]} / baseline, quick, cpu: Intel Xeon (2 cores) (n=2)"
    assert report.minority_classes([300, 100, 10]) == [1, 2] and report.minority_classes([5, 5]) == []
    assert report.minority_classes([6000, 150, 150, 150, 150, 6000, 150, 150, 150, 150]) == [1, 2, 3, 4, 6, 7, 8, 9]
    out = report.recall_plot(frame, tmp_path / "recall.png", what="test")
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_pairs_are_made_on_one_machine_identity_where_both_records_name_one(tmp_path):
    from shared_data import identity

    here = identity.describe_machine(environ={"OMP_NUM_THREADS": "1"})
    onednn_off = identity.describe_machine(environ={"OMP_NUM_THREADS": "1", "TF_ENABLE_ONEDNN_OPTS": "0"})
    right, one_wrong = [0, 0, 1, 1, 2, 2], [0, 0, 1, 2, 2, 2]
    for seed in (1, 2):
        _write(tmp_path, f"toy-{seed}", right, seed=seed, split=_split_seed(seed), variant="toy", machine=here)
        _write(tmp_path, f"toy+fix-{seed}", one_wrong, seed=seed, split=_split_seed(seed), variant="toy+fix",
               machine=here if seed == 1 else onednn_off)  # seed 2: same label, another machine: no pair
    old = _write(tmp_path, "toy+fix-3", one_wrong, seed=3, split=_split_seed(3), variant="toy+fix")
    _write(tmp_path, "toy-3", right, seed=3, split=_split_seed(3), variant="toy", machine=onednn_off)
    path = tmp_path / "results" / "toy" / "toy+fix-3" / "result.json"
    records.atomic_write_json(path, {k: v for k, v in old.items() if k not in ("machine", "machine_id")})
    deltas = report.paired_deltas(report.load_results(tmp_path / "results"))
    row = deltas.set_index("variant").loc["toy+fix"]
    assert (row["pairs"], row["seeds"]) == (2, "1,3")  # seed 3: a record without an identity pairs by its label


def test_a_faithful_named_model_of_the_method_is_compared_with_the_baseline_too(tmp_path):
    right, one_wrong = [0, 0, 1, 1, 2, 2], [0, 0, 1, 2, 2, 2]
    for seed in (1, 2):
        _write(tmp_path, f"rel-{seed}", right, seed=seed, split=_split_seed(seed), variant="toy gan=released")
        _write(tmp_path, f"base-{seed}", one_wrong, seed=seed, split=_split_seed(seed), variant="baseline")
    c = report.against_primary(report.load_results(tmp_path / "results"))
    assert list(c["other"]) == ["baseline (for toy gan=released)"] and list(c["model"]) == ["toy gan=released"]
    assert (c["pairs"].iloc[0], c["higher"].iloc[0]) == (2, 2)


def test_each_reproduction_row_names_the_rule_that_chose_its_number(tmp_path):
    """A run that reports its best test evaluation says so in its own row, beside the paper, and in the checks."""
    paper = _paper(tmp_path, "X,2,toy,dgc,TOY,ACSA,0.5000,0.01\n")
    best = {"reported": {"model": "best test accuracy", "step": 300}, "best_test_accuracy": 1.0}
    _write(tmp_path, "best", [0, 0, 1, 1, 2, 2], budget="full", extra=best)
    _write(tmp_path, "final", [0, 0, 1, 2, 2, 2], budget="full", variant="toy-final", extra={"reported_model": "final"})
    _write(tmp_path, "quick", [0, 0, 1, 1, 2, 2], budget="quick", extra=best)
    text = report.build_report(tmp_path / "results", paper, plot_dir=tmp_path / "plots")
    reproductions, checks = text.split("### Checks")
    assert "| TOY | toy | toy | dgc | ACSA | 0.5000 ± 0.01 | 1.0000 | best on test (selected on the test set) |" \
        in reproductions
    assert "| TOY | toy-final | toy | dgc | ACSA | 0.5000 ± 0.01 | 0.8333 | final model |" in reproductions
    assert "| cpu: test | 1 (0) | best on test (selected on the test set) | 1.0000 |" in checks


def test_only_faithful_rows_count_as_reproduced(tmp_path):
    """The keys that the reproductions table covers, which the checks table and the accuracy summary read."""
    paper = _paper(tmp_path, "X,2,toy,dgc,TOY,ACSA,0.5000,0.01\n")
    _write(tmp_path, "full", [0, 0, 1, 1, 2, 2], budget="full")
    _write(tmp_path, "fix", [0, 0, 1, 2, 2, 2], budget="full", variant="toy+fix")
    _write(tmp_path, "quick", [0, 0, 1, 1, 2, 2], budget="quick")
    reproduced = report.tables(tmp_path / "results", paper)["reproduced"]
    assert {(k[1], k[6]) for k in reproduced} == {("toy", "full")}
