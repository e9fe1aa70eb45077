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
