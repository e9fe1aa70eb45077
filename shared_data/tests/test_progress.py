"""The live progress file every run folder gets from its training log (shared_data.progress)."""
import json
import warnings

import pytest

from shared_data import progress, records
from test_records import _finish, _result


class Clock:
    def __init__(self, t=1000.0):
        self.t = t

    def __call__(self):
        return self.t


def test_logging_a_record_updates_the_run_folder_progress_file(tmp_path):
    run = records.RunDir.create(tmp_path, "toy", "toy-dgc-split0-seed1-smoke", {"steps": 400, "lr": 0.1})
    run.log_metrics({"step": 100, "loss": 2.5})
    p = progress.read(run.path)
    assert (p["state"], p["unit"], p["done"], p["total"]) == ("running", "step", 100, 400)
    assert p["train"] == {"name": "loss", "value": 2.5} and p["metric"] is None
    run.log_eval("test", {"acsa": 0.61, "accuracy": 0.7}, step=200)
    p = progress.read(run.path)
    assert p["done"] == 200 and p["metric"] == {"name": "acsa", "value": 0.61, "split": "test", "at": 200}
    _finish(run, _result())  # the result, its predictions, an evaluation at step 1
    p = progress.read(run.path)
    assert (p["state"], p["done"], p["total"], p["eta_s"]) == ("finished", 400, 400, 0.0)
    assert p["metric"]["value"] == pytest.approx(_result()["metrics"]["acsa"])
    assert sorted(q.name for q in run.path.iterdir() if q.name.startswith(".") and q.name != records.LOCK_NAME) == []
    records.validate_run_dir(run.path)  # the progress file is no part of the record, and harms nothing


def test_rate_and_eta_come_from_this_process_and_a_record_past_the_config_total_drops_it(tmp_path):
    clock = Clock()
    (tmp_path / "config.json").write_text(json.dumps({"max_step": 1000}))
    t = progress.Tracker(tmp_path, {"max_step": 1000}, clock=clock)
    clock.t += 50  # set-up: not counted in the rate
    t.update({"kind": "eval", "step": 0, "split": "test", "metrics": {"accuracy": 0.1}})
    assert progress.read(tmp_path)["eta_s"] is None  # one record: no rate yet
    clock.t += 50
    t.update({"kind": "eval", "step": 100, "split": "test", "metrics": {"accuracy": 0.5}})
    p = progress.read(tmp_path)
    assert p["rate_per_s"] == pytest.approx(2.0) and p["eta_s"] == pytest.approx(450.0)
    assert p["metric"]["name"] == "accuracy"
    t.update({"kind": "eval", "step": 100, "split": "train", "metrics": {"accuracy": 0.9}})
    assert progress.read(tmp_path)["metric"]["split"] == "test", "a train evaluation does not replace a test one"
    t.update({"kind": "train", "step": 5000})
    assert progress.read(tmp_path)["total"] is None

    # the same folder resumed by another process: rate from its own records only
    clock.t += 1000
    again = progress.Tracker(tmp_path, {"max_step": 1000}, clock=clock)
    again.update({"kind": "eval", "step": 600, "split": "test", "metrics": {"acsa": 0.7}})
    p = progress.read(tmp_path)
    assert p["done"] == 600 and p["rate_per_s"] is None and p["eta_s"] is None
    clock.t += 100
    again.update({"kind": "eval", "step": 800, "split": "test", "metrics": {"acsa": 0.75}})
    p = progress.read(tmp_path)
    assert p["rate_per_s"] == pytest.approx(2.0) and p["eta_s"] == pytest.approx(100.0)


def test_epochs_counted_from_0_or_1_and_stages_each_with_its_own_total(tmp_path):
    clock = Clock()
    caleg = progress.Tracker(tmp_path / "a", {"epochs": 2, "epoch_num": 50}, clock=clock)
    caleg.update({"kind": "train", "epoch": 0, "loss_ce": 3.0})  # epoch 0 logged: one epoch done
    assert (progress.read(tmp_path / "a")["done"], progress.read(tmp_path / "a")["total"]) == (1, 2)
    dgc = progress.Tracker(tmp_path / "b", {"epoch_num": 30}, clock=clock)
    dgc.update({"kind": "pretrain", "epoch": 0})  # not a position
    dgc.update({"kind": "train", "epoch": 1, "loss": 1.0})
    assert (progress.read(tmp_path / "b")["done"], progress.read(tmp_path / "b")["total"]) == (1, 30)
    imsic = progress.Tracker(tmp_path / "c", {"gan_epochs": 500, "cnn_epochs": 20}, clock=clock)
    imsic.update({"kind": "train", "stage": "gan", "epoch": 7, "mean_g_loss": 0.9})
    p = progress.read(tmp_path / "c")
    assert (p["stage"], p["done"], p["total"], p["train"]["name"]) == ("gan", 7, 500, "mean_g_loss")
    clock.t += 10
    imsic.update({"kind": "train", "stage": "cnn", "epoch": 1})  # the cnn stage began at gan's last record
    p = progress.read(tmp_path / "c")
    assert (p["stage"], p["total"], p["rate_per_s"], p["eta_s"]) == ("cnn", 20, pytest.approx(0.1), pytest.approx(190))
    imsic.set_total(25, "epoch", stage="cnn")  # what the method declares wins over the config
    imsic.update({"kind": "train", "stage": "cnn", "epoch": 2})
    assert progress.read(tmp_path / "c")["total"] == 25


def test_a_progress_file_that_cannot_be_written_never_stops_the_run(tmp_path):
    run = records.RunDir.create(tmp_path, "toy", "toy-dgc-split0-seed1-smoke", {"steps": 10})
    (run.path / progress.FILE_NAME).mkdir()  # something in the way
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run.log_metrics({"step": 1, "loss": 1.0})
        run.log_metrics({"step": 2, "loss": 0.5})
    assert [r["step"] for r in run.read_metrics()] == [1, 2]
    assert sum("progress not updated" in str(w.message) for w in caught) == 1
    assert progress.read(run.path) is None
