"""run.py on real data at the smoke budget: a valid result.json, resumption, bad input."""
import importlib
import json

import numpy as np
import pytest
import torch

import run as dfg_run
from dfg import train
from shared_data import config, errors, records


def _args(data_root, out, *extra):
    return ["--dataset", "mnist", "--budget", "smoke", "--data-root", str(data_root), "--out", str(out),
            "--threads", "1", *extra]


def test_smoke_run_writes_a_valid_result_and_resumes(data_root, tmp_path, capsys):
    out = tmp_path / "runs"
    assert dfg_run.main(_args(data_root, out)) == 0
    run_dir = out / "dfg" / "mnist-dfg-dfg-split0-seed0-smoke"
    result = json.loads((run_dir / "result.json").read_text())
    records.validate_result(result)
    assert result["method"] == "dfg" and result["paper_method"] == "DFG" and result["faithful"] is True
    assert result["split_id"] == "mnist-dfg-ir10-s0" and result["n_test"] == 10000
    ex = result["extra"]
    assert ex["source_network"]["source"] == "mnist (stand-in for EMNIST digits)"
    assert ex["channel_eval_split_id"] == "mnist-dfg-ir10-s1000"  # its own minority draw
    assert ex["reported"]["model"] == "best test accuracy" and ex["best_step"] in (2, 4)
    assert len(ex["attention_updates"]) == 1  # smoke opens the e_loss gate at step 4
    pred = np.load(run_dir / "predictions.npz")
    np.testing.assert_allclose(pred["scores"].sum(1), 1.0, atol=1e-3)
    assert "scores_final" in pred and pred["y_pred"].shape == (10000,)
    evals = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [e["step"] for e in evals if e.get("kind") == "eval"] == [2, 4, 6]  # 2, 4, then the final model
    # interrupted after the first checkpoint, then resumed: the same model as the uninterrupted run
    out2 = tmp_path / "runs2"
    capsys.readouterr()
    assert dfg_run.main(_args(data_root, out2, "--stop-after", "3")) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("stopped after step 3 (checkpointed); re-run the same command to resume"), err
    run2 = out2 / "dfg" / run_dir.name
    assert (run2 / "checkpoints" / "train.pt").exists() and not (run2 / "result.json").exists()
    assert dfg_run.main(_args(data_root, out2)) == 0
    pred2 = np.load(run2 / "predictions.npz")
    np.testing.assert_allclose(pred2["scores_final"], pred["scores_final"], rtol=1e-5, atol=1e-6)
    # the saved config is the resolved one; running the finished configuration again reports it, untouched
    saved = json.loads((run2 / "config.json").read_text())
    assert saved["budget"] == "smoke" and saved["steps"] == 6 and saved["source"]["steps"] == 60
    before = (run2 / "result.json").read_text()
    capsys.readouterr()
    assert dfg_run.main(_args(data_root, out2)) == 0
    assert "(finished earlier)" in capsys.readouterr().out and (run2 / "result.json").read_text() == before


def test_an_interrupt_keeps_the_last_checkpoint_and_exits_3(data_root, tmp_path, capsys, monkeypatch):
    """SIGINT and SIGTERM reach the training loop as KeyboardInterrupt: it goes up, the checkpoint of step 3
    stays, the run ends with exit code 3 and the same command finishes it."""
    out = tmp_path / "runs"
    real = train.Trainer.baseline_iteration

    def interrupted_at_4(self, step):
        if step == 4:
            raise KeyboardInterrupt
        return real(self, step)

    monkeypatch.setattr(train.Trainer, "baseline_iteration", interrupted_at_4)
    assert dfg_run.main(_args(data_root, out, "--model", "original")) == 3
    assert "re-run the same command to resume" in capsys.readouterr().err
    run_dir = out / "dfg" / "mnist-dfg-original-split0-seed0-smoke"
    blob = torch.load(run_dir / "checkpoints" / "train.pt", weights_only=True)
    assert blob["state"]["step"] == 3 and not (run_dir / "result.json").exists()
    monkeypatch.undo()
    assert dfg_run.main(_args(data_root, out, "--model", "original")) == 0
    assert (run_dir / "result.json").exists() and not (run_dir / "checkpoints" / "train.pt").exists()


@pytest.mark.parametrize("dataset", ["mnist", "fashion"])
def test_every_budget_resolves_and_an_unknown_key_is_refused(dataset):
    module = importlib.import_module(f"configs.{dataset}")
    full = config.resolve(module, "full")
    assert full["dataset"] == dataset and full["steps"] == 40000 and full["budget"] == "full"
    for budget in ("quick", "smoke"):
        cfg = config.resolve(module, budget)
        assert set(cfg) == set(full) and set(cfg["source"]) == set(full["source"])  # nested dicts are whole
    with pytest.raises(errors.ConfigError, match="'stpes'.*did you mean 'steps'"):
        config.resolve(module, "smoke", {"stpes": 3})
    with pytest.raises(errors.ConfigError, match="'alpha_extracter'"):
        config.load("configs", dataset, "full", {"alpha_extracter": 0.0})
    with pytest.raises(errors.ConfigError, match="no 'tiny' budget"):
        config.resolve(module, "tiny")


@pytest.mark.parametrize("extra,message", [
    (["--dataset", "cifar100"], "unknown dataset"),
    (["--stage", "train"], "run the source stage first"),
    (["--stage", "eval", "--model", "original"], "run the train stage first"),
    (["--source-checkpoint", "/nonexistent/lenet.pt"], "does not exist"),
    (["--ir", "7000"], "leaves the minority classes empty"),
    (["--test-center-crop", "224"], "ResNet-50"),
    (["--device", "gpu"], "is not a device"),
])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(data_root, tmp_path, capsys, extra, message):
    out = tmp_path / "runs"
    with pytest.raises(SystemExit) if extra[0] == "--dataset" else _nullcontext() as exc:
        code = dfg_run.main(_args(data_root, out, *extra))
    code = exc.value.code if extra[0] == "--dataset" else code
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1, err
    assert not (out / "dfg").exists()


@pytest.mark.parametrize("flag, value", [
    ("--threads", "0"), ("--threads", "-1"), ("--stop-after", "0"), ("--minority", "-1"), ("--leaky-slope", "nan"),
    ("--leaky-slope", "inf"), ("--val-fraction", "nan"), ("--seed", str(2 ** 32)), ("--split-seed", str(2 ** 32)),
    ("--ir", "nan"),
])
def test_numbers_counts_and_seeds_are_checked_when_parsed(flag, value, capsys):
    with pytest.raises(SystemExit) as exc:
        dfg_run.main([f"{flag}={value}"])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith(f"error: argument {flag}") and value in err, err


@pytest.mark.parametrize("seeds", [f"0,{2 ** 32}", "0,0", "0,x"])
def test_bad_split_seeds_are_one_line_and_write_nothing(data_root, tmp_path, capsys, seeds):
    out = tmp_path / "runs"
    with pytest.raises(SystemExit) as exc:
        dfg_run.main(_args(data_root, out, "--split-seeds", seeds))
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1 and err.startswith("error: argument --split-seeds"), err
    assert not out.exists()


def test_an_out_folder_under_a_file_is_a_one_line_error(data_root, tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert dfg_run.main(_args(data_root, afile / "runs")) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(afile) in err and "not a folder" in err, err
    assert afile.read_text() == "x"


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def test_baselines_run_at_the_smoke_budget(data_root, tmp_path):
    out = tmp_path / "runs"
    for model in ("original", "fine-tuning", "delta"):
        assert dfg_run.main(_args(data_root, out, "--model", model)) == 0
        r = json.loads((out / "dfg" / f"mnist-dfg-{model}-split0-seed0-smoke" / "result.json").read_text())
        assert r["paper_method"] == {"original": "ORIGINAL", "fine-tuning": "FINE-TUNING", "delta": "DELTA"}[model]
        assert (r["extra"]["source_network"] is None) == (model == "original")


@pytest.mark.slow
def test_every_fix_at_once_runs_at_the_smoke_budget(data_root, tmp_path):
    out = tmp_path / "runs"
    fixes = ["--leaky-slope", "0.2", "--attention-rho-blend", "--extractor-importance-sign", "delta",
             "--shared-minority-draw", "--report", "final", "--val-fraction", "0.1", "--gen-label-dist", "deficit",
             "--single-ce-step4", "--source-head", "fresh", "--eval-mode-side-passes", "--eval-final-step"]
    assert dfg_run.main(_args(data_root, out, *fixes)) == 0
    found = [p for p in (out / "dfg").glob("mnist-dfg-dfg+*/result.json")]
    assert len(found) == 1
    r = records.validate_result(json.loads(found[0].read_text()))
    assert r["faithful"] is False and len(r["fixes"]) == 11 and r["variant"].startswith("dfg+leaky-slope=0.2+")
    assert r["extra"]["reported"]["model"] == "final" and r["extra"]["channel_eval_split_id"] == r["split_id"]
    assert r["extra"]["attention_updates"] and r["extra"]["final_accuracy"] == r["metrics"]["accuracy"]
