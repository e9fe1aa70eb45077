"""The three accuracies of a run that selects on the test set, and the README table made from them."""
import json

import pytest

from shared_data import selection


def _log(accs, start=100):
    return [{"kind": "eval", "split": "test", "step": start * (i + 1), "metrics": {"accuracy": a}}
            for i, a in enumerate(accs)]


def test_late_mean_is_the_mean_of_the_last_evaluations_and_ignores_the_final_model_line():
    log = _log([0.5, 0.9, 0.6, 0.7, 0.8]) + [{"kind": "eval", "split": "test", "step": 600, "model": "final",
                                              "metrics": {"accuracy": 0.1}}]
    assert selection.late_mean(log, 3) == pytest.approx((0.6 + 0.7 + 0.8) / 3)
    assert selection.late_mean(log, 20) == pytest.approx(3.5 / 5)
    assert selection.late_mean([], 20) is None
    resumed = _log([0.5, 0.9]) + [{"kind": "eval", "split": "test", "step": 200, "metrics": {"accuracy": 0.3}}]
    assert selection.late_mean(resumed, 2) == pytest.approx(0.4)  # a step logged twice counts once, the later line
    with pytest.raises(ValueError):
        selection.late_mean(log, 0)


def test_the_section_gives_each_run_its_three_accuracies_and_the_paper_beside_faithful_full_runs(tmp_path):
    for split, accs, final, budget in ((0, [0.70, 0.80, 0.75, 0.74], 0.73, "full"),
                                       (1, [0.60, 0.66, 0.64, 0.62], 0.61, "full")):
        folder = tmp_path / "dfg" / f"run{split}"
        folder.mkdir(parents=True)
        r = {"variant": "dfg", "budget": budget, "device": "cpu: test", "split_seed": split, "seed": 0,
             "faithful": True, "eval_subset": "full", "paper_method": "DFG", "dataset": "fashion",
             "split_id": f"fashion-dfg-ir40-s{split}", "wall_time_s": 12.0, "git_commit": "abcdef0123",
             "extra": {"best_test_accuracy": max(accs), "best_step": 100 * (accs.index(max(accs)) + 1),
                       "final_accuracy": final}}
        (folder / "result.json").write_text(json.dumps(r))
        (folder / "metrics.jsonl").write_text("\n".join(json.dumps(x) for x in _log(accs)) + "\n")
    text = selection.section(tmp_path, "dfg", paper={("DFG", "fashion", "dfg-ir40"): "82.65 ± 0.28"}, window=2)
    assert "| dfg | full | 0 | 0 | 80.00 (200) | 73.00 | 74.50 | 82.65 ± 0.28 | 12 s | cpu: test | `abcdef0` |" in text
    assert "| dfg | full | 1 | 0 | 66.00 (200) | 61.00 | 63.00 | 82.65 ± 0.28 |" in text
    assert "| dfg | full | cpu: test | 2 | 73.00 ± 9.90 | 67.00 ± 8.49 | 68.75 ± 8.13 |" in text
    assert selection.section(tmp_path, "gamo") is None


@pytest.mark.parametrize("extra, config, rule", [
    ({"reported": {"model": "best test accuracy", "step": 2600}}, {}, "best_test"),      # DFG, faithful
    ({"reported": {"model": "best validation accuracy", "step": 900}}, {}, "val"),       # DFG --val-fraction
    ({"reported": {"model": "final", "step": 30000}}, {}, "final"),                       # DFG --report final
    ({"reported_model": "final (Results.npz of the original)"}, {}, "final"),            # GAMO
    ({"reported_epoch": 3, "report_rule": "last epoch (faithful)"}, {}, "last_eval"),     # CaLeG
    ({"reported_epoch": 2, "report_rule": "best validation ACSA"}, {}, "val"),            # CaLeG --val-fraction
    ({"reported_epoch": 2, "report_rule": "report_epoch"}, {"report_epoch": 2}, "fixed"),  # CaLeG --report-epoch
    ({"report_epoch": 3}, {"report_epoch": None}, "last_eval"),                            # DGC
    ({"report_epoch": 2}, {"report_epoch": 2}, "fixed"),                                   # DGC with report_epoch set
    ({"reported_epoch": 8}, {}, "last_eval"),                                              # IMSIC
])
def test_the_reported_rule_is_read_from_what_each_method_records(extra, config, rule):
    assert selection.reported_rule({"extra": extra, "config": config}) == selection.RULE_LABELS[rule]


def test_a_record_that_does_not_say_how_its_number_was_chosen_says_not_recorded():
    assert selection.reported_rule({"extra": {}, "config": {}}) == "not recorded"
    assert selection.reported_rule({}) == "not recorded"
