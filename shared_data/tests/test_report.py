import json

import numpy as np

from shared_data import metrics, records, report
from test_records import _result


def test_report_sets_ours_beside_the_paper_and_updates_the_readme(tmp_path):
    paper = tmp_path / "paper"
    paper.mkdir()
    (paper / "t.csv").write_text("source,table,dataset,protocol,method,metric,value,std\n"
                                 "X,2,mnist,dgc,TOY,ACSA,0.5000,0.01\n"
                                 "X,3,mnist,dgc,TOY,RMI,0.2500,\n")
    for seed, pred in [(1, [0, 0, 1, 2, 2, 2]), (2, [0, 0, 1, 1, 2, 2])]:
        r = _result(seed=seed, metrics=metrics.compute([0, 0, 1, 1, 2, 2], pred, train_counts=[3, 2, 1]))
        r["dataset"] = "mnist"
        records.atomic_write_json(tmp_path / "results" / "toy" / f"r{seed}" / "result.json", r)
    report.PAPER_METHOD["toy"] = "TOY"
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{report.README_START}\nold\n{report.README_END}\ntail\n")
    text = report.build_report(tmp_path / "results", paper, plot_path=tmp_path / "recall.png", readme=readme)
    acsa = [np.mean([1, 0.5, 1]), 1.0]
    expected = f"{np.mean(acsa):.4f} ± {np.std(acsa, ddof=1):.4f} (paper 0.5000, Δ {np.mean(acsa) - 0.5:+.4f})"
    assert expected in text
    assert "| toy | toy | mnist | dgc | smoke | cpu: test | 2 |" in text
    assert "Paper values for TOY on mnist/dgc: X, table 2." in text
    assert "Paper values for TOY on mnist/dgc: X, table 3." in text
    # RMI (DGC's Table 3) is a column too: the smallest class (2) is fully recalled in both runs
    assert "1.0000 ± 0.0000 (paper 0.2500, Δ +0.7500)" in text
    assert "| RMI | PMA |" in text
    assert (tmp_path / "recall.png").stat().st_size > 1000
    body = readme.read_text()
    assert "old" not in body and expected in body and body.endswith("tail\n")


def test_empty_results_say_so(tmp_path):
    assert "No committed results yet" in report.build_report(tmp_path / "none", tmp_path / "none")


def test_variants_are_compared_with_the_faithful_run_pair_by_pair(tmp_path):
    truth = [0, 0, 1, 1, 2, 2]
    preds = {("toy", 1): [0, 0, 1, 2, 2, 2], ("toy", 2): [0, 0, 1, 1, 2, 2],
             ("toy+fix", 1): [0, 0, 1, 1, 2, 2], ("toy+fix", 2): [0, 0, 1, 1, 2, 2],
             ("toy+fix", 3): [0, 1, 1, 1, 2, 2]}  # seed 3 has no faithful partner: left out
    for (variant, seed), pred in preds.items():
        r = _result(seed=seed, variant=variant, metrics=metrics.compute(truth, pred, train_counts=[3, 2, 1]))
        records.atomic_write_json(tmp_path / "results" / "toy" / f"{variant}-{seed}" / "result.json", r)
    # another budget never pairs with the smoke runs
    r = _result(seed=1, variant="toy+fix", budget="quick", metrics=metrics.compute(truth, [1] * 6, train_counts=[3, 2, 1]))
    records.atomic_write_json(tmp_path / "results" / "toy" / "quick" / "result.json", r)
    deltas = report.paired_deltas(report.load_results(tmp_path / "results"))
    assert len(deltas) == 1
    row = deltas.iloc[0]
    assert (row["variant"], row["reference"], row["pairs"], row["seeds"]) == ("toy+fix", "toy", 2, "1,2")
    d = [1.0 - np.mean([1, 0.5, 1]), 0.0]  # ACSA gain on seed 1, none on seed 2
    assert np.isclose(row["acsa_mean"], np.mean(d)) and np.isclose(row["acsa_std"], np.std(d, ddof=1))
    text = report.build_report(tmp_path / "results", tmp_path / "none")
    assert f"| toy | toy+fix | toy | toy | dgc | smoke | cpu: test | 2 (1,2) | {np.mean(d):+.4f} ± " \
           f"{np.std(d, ddof=1):.4f} |" in text
    assert "What each variant changes" in text


def test_a_fix_on_another_base_variant_is_compared_with_that_base(tmp_path):
    truth = [0, 0, 1, 1, 2, 2]
    preds = {"toy": [0, 0, 1, 2, 2, 2], "toy-r2": [0, 0, 1, 1, 2, 2], "toy-r2+fix": [0, 1, 1, 1, 2, 2],
             "toy-r3+fix": [0, 0, 1, 1, 2, 2]}  # no toy-r3 run: compared with the faithful toy
    for variant, pred in preds.items():
        r = _result(seed=1, variant=variant, metrics=metrics.compute(truth, pred, train_counts=[3, 2, 1]))
        records.atomic_write_json(tmp_path / "results" / "toy" / variant / "result.json", r)
    deltas = report.paired_deltas(report.load_results(tmp_path / "results")).set_index("variant")
    assert deltas["reference"].to_dict() == {"toy-r2": "toy", "toy-r2+fix": "toy-r2", "toy-r3+fix": "toy"}
    acsa = {v: np.mean(metrics.compute(truth, p, train_counts=[3, 2, 1])["per_class_recall"])
            for v, p in preds.items()}
    assert np.isclose(deltas.loc["toy-r2+fix", "acsa_mean"], acsa["toy-r2+fix"] - acsa["toy-r2"])
    assert np.isclose(deltas.loc["toy-r3+fix", "acsa_mean"], acsa["toy-r3+fix"] - acsa["toy"])


def test_no_paired_table_without_a_reference_run(tmp_path):
    r = _result(seed=1, variant="toy+fix")
    records.atomic_write_json(tmp_path / "results" / "toy" / "a" / "result.json", r)
    assert report.paired_deltas(report.load_results(tmp_path / "results")).empty
    assert "What each variant changes" not in report.build_report(tmp_path / "results", tmp_path / "none")
