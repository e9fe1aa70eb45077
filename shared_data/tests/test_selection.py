"""The three accuracies of a run that selects on the test set, and the README table made from them."""
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


def _summary_row(split, accs, final, budget="full", faithful=True, variant="dfg"):
    """What ``readme.run_rows`` gives for one record of a run that selected on the test set."""
    r = {"method": "dfg", "variant": variant, "budget": budget, "device": "cpu: test", "split_seed": split,
         "seed": 0, "faithful": faithful, "eval_subset": "full", "paper_method": "DFG", "dataset": "fashion",
         "protocol": "dfg", "protocol_key": "dfg-ir40", "extra": {"best_test_accuracy": max(accs),
                                               "best_step": 100 * (accs.index(max(accs)) + 1),
                                               "final_accuracy": final}}
    return {"row": r, "accuracies": selection.run_accuracies(r, _log(accs), 2)}


def _key(r):
    from shared_data import report

    return tuple(r["row"][g] for g in report.GROUP)


def test_the_summary_gives_each_model_its_three_accuracies_beside_the_paper_for_faithful_full_runs():
    from shared_data import readme

    paper = {("DFG", "fashion", "dfg-ir40"): "82.65 ± 0.28"}
    rows = [_summary_row(0, [0.70, 0.80, 0.75, 0.74], 0.73), _summary_row(1, [0.60, 0.66, 0.64, 0.62], 0.61),
            _summary_row(0, [0.50, 0.55], 0.52, variant="dfg+fix", faithful=False),
            _summary_row(0, [0.40, 0.45], 0.41, budget="quick")]
    # what report.tables sets beside the paper: the faithful full-budget rows on the full test set of a paper cell
    reproduced = {_key(rows[0])}
    text = readme.accuracy_summary(rows, paper, reproduced)
    # best (80, 66), final (73, 61), mean of the last 2 (74.5, 63): mean ± sample std over the two splits
    assert "| dfg | fashion | full | cpu: test | 2 (0,1) | 73.00 ± 9.90 | 67.00 ± 8.49 | 68.75 ± 8.13 | " \
           "82.65 ± 0.28 |" in text
    assert "dfg+fix" not in text and "| quick |" not in text  # one run, and no paper cell to stand beside
    one = readme.accuracy_summary(rows[:1], paper, reproduced)  # one faithful full run still stands beside it
    assert "| dfg | fashion | full | cpu: test | 1 (0) | 80.00 | 73.00 | 74.50 | 82.65 ± 0.28 |" in one
    assert readme.accuracy_summary(rows[:1], {}, reproduced) == ""
    assert readme.accuracy_summary(rows[:1], paper) == ""  # not set beside the paper by the report: no paper cell
    two_quick = readme.accuracy_summary([_summary_row(s, [0.4, 0.5 + s / 10], 0.4, "quick") for s in (0, 1)], paper,
                                        reproduced)
    assert "| dfg | fashion | quick | cpu: test | 2 (0,1) | 55.00 ± 7.07 | 40.00 ± 0.00 | 47.50 ± 3.54 |  |" \
        in two_quick


def test_the_paper_cells_are_printed_in_percent_with_the_published_decimals():
    import pandas as pd

    from shared_data import report

    paper = pd.DataFrame([{"key": "accuracy", "value": 0.8265, "value_decimals": 4, "std": 0.0028,
                           "std_decimals": 4, "method": "DFG", "dataset": "fashion", "protocol": "dfg-ir40"},
                          {"key": "acsa", "value": 0.9, "value_decimals": 2, "std": float("nan"),
                           "std_decimals": 0, "method": "X", "dataset": "mnist", "protocol": "p"}])
    assert report.paper_cells_text(paper) == {("DFG", "fashion", "dfg-ir40"): "82.65 ± 0.28"}
    assert report.paper_cells_text(pd.DataFrame()) == {}


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
