"""The authors' channel-evaluation files (--channel-eval released), the classifier channel evaluation's batches,
the three accuracies of a result, and checkpoints that cannot run code."""
import json
import pickle
import shutil

import numpy as np
import pytest
import torch

import run as dfg_run
from dfg import released, train
from shared_data import records
from shared_data.fetch import DataError


def _args(data_root, out, *extra):
    return ["--dataset", "fashion", "--budget", "smoke", "--data-root", str(data_root), "--out", str(out),
            "--threads", "1", *extra]


def test_the_classifier_evaluation_batches_are_the_first_of_one_shuffled_pass():
    g = torch.Generator().manual_seed(3)
    batches = train.first_batches_of_one_pass(1000, 64, 4, g, "cpu")
    order = torch.randperm(1000, generator=torch.Generator().manual_seed(3))
    assert [len(b) for b in batches] == [64] * 4
    assert torch.equal(torch.cat(batches), order[:256])  # consecutive slices of one permutation: disjoint
    # a pass shorter than 4 batches ends early, as a DataLoader does
    short = train.first_batches_of_one_pass(100, 64, 4, torch.Generator().manual_seed(0), "cpu")
    assert [len(b) for b in short] == [64, 36] and len(set(torch.cat(short).tolist())) == 100


def test_the_channel_eval_stage_scores_disjoint_batches(data_root, tmp_path, monkeypatch, capsys):
    seen = []

    def capture(e, c, batches):
        seen.extend(batches)
        return [[0.0] * 16]

    monkeypatch.setattr(train.ce, "classifier_importance", capture)
    capsys.readouterr()
    assert dfg_run.main(_args(data_root, tmp_path / "runs", "--dataset", "mnist", "--stage", "source")) == 0
    assert "--stage source done" in capsys.readouterr().out  # a stage alone is done, and says what comes next
    assert dfg_run.main(_args(data_root, tmp_path / "runs", "--dataset", "mnist", "--stage", "channel-eval")) == 0
    assert "(--stage train, or no --stage, goes on)" in capsys.readouterr().out
    rows = torch.cat([x.flatten(1) for x, _ in seen])
    assert len(seen) == 4 and rows.shape[0] == 256
    assert len(torch.unique(rows, dim=0)) == 256  # no image scored twice


def test_released_files_load_with_their_shapes(mirror):
    out = released.load("fashion", data_root=mirror / "none", mirrors=[mirror], download=False)
    assert np.asarray(out["generator_attention"]).shape == (10, 6)
    assert np.asarray(out["extractor_weights"]).shape == (6,)
    assert np.asarray(out["classifier_weights"]).shape == (1, 16) and out["source"] == "released@41fa92d"
    np.testing.assert_allclose(np.asarray(out["generator_attention"]).sum(1), 1.0, atol=1e-9)
    with pytest.raises(ValueError, match="Fashion|fashion"):
        released.file_specs("mnist")


def test_a_released_file_that_fails_its_checksum_or_holds_a_pickle_is_refused(mirror, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(mirror / "dfg", root / "dfg")
    for p in (root / "dfg").rglob("*"):
        p.chmod(0o700 if p.is_dir() else 0o600)
    target = root / "dfg" / "lenet_fashion_mnist" / "generator_attention_lenet_fashion_mnist.npy"
    np.save(target, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="checksum mismatch"):
        released.load("fashion", data_root=root, mirrors=[], download=False)
    # even a file whose checksum were made to match is read without pickle
    with pytest.raises(ValueError, match="allow_pickle|pickle"):
        np.load(target, allow_pickle=False)


def test_a_released_channel_eval_run_records_its_source_and_variant(data_root, mirror, tmp_path):
    out = tmp_path / "runs"
    assert dfg_run.main(_args(data_root, out, "--channel-eval", "released", "--model", "delta")) == 0
    run_dir = out / "dfg" / "fashion-dfg-delta-released-ce-split0-seed0-smoke"
    r = records.validate_result(json.loads((run_dir / "result.json").read_text()))
    assert r["variant"] == "delta-released-ce" and r["faithful"] is True and r["paper_method"] == "DELTA"
    assert r["extra"]["channel_eval"] == "released@41fa92d" and r["extra"]["channel_eval_split_id"] is None
    chan = json.loads((run_dir / "channel_eval.json").read_text())
    shipped = mirror / "dfg" / "lenet_fashion_mnist"
    assert chan["classifier_weights"] == json.loads((shipped / "channel_weight_lenet_fashion_mnist.json").read_text())
    np.testing.assert_array_equal(chan["extractor_weights"],
                                  np.load(shipped / "transpose_wj_extractor_lenet_fashion_mnist.npy"))
    assert dfg_run.main(_args(data_root, out, "--channel-eval", "released", "--model", "original")) == 2


def test_zero_regulariser_weights_are_a_named_unfaithful_variant(data_root, tmp_path, capsys):
    out = tmp_path / "runs"
    assert dfg_run.main(_args(data_root, out, "--model", "delta", "--alpha-extractor", "0",
                              "--alpha-classifier", "0")) == 0
    (path,) = (out / "dfg").glob("fashion-dfg-delta+alpha-e*/result.json")
    r = json.loads(path.read_text())
    assert r["variant"] == "delta+alpha-e=0+alpha-c=0" and r["faithful"] is False
    assert r["config"]["alpha_extractor"] == 0 and r["config"]["alpha_classifier"] == 0
    with pytest.raises(SystemExit) as exc:
        dfg_run.main(_args(data_root, out, "--alpha-extractor", "nan"))
    assert exc.value.code == 2 and "--alpha-extractor" in capsys.readouterr().err


def test_a_result_names_its_three_accuracies(data_root, tmp_path):
    out = tmp_path / "runs"
    assert dfg_run.main(_args(data_root, out, "--model", "original", "--dataset", "mnist")) == 0
    run_dir = out / "dfg" / "mnist-dfg-original-split0-seed0-smoke"
    r = json.loads((run_dir / "result.json").read_text())
    acc = r["extra"]["accuracies"]
    evals = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    during = [e["metrics"]["accuracy"] for e in evals if e.get("kind") == "eval" and "model" not in e]
    assert acc["best_test"]["accuracy"] == max(during) == r["metrics"]["accuracy"]
    assert acc["final"]["accuracy"] == r["extra"]["final_accuracy"]
    assert acc["late_mean"]["accuracy"] == pytest.approx(np.mean(during[-20:]), abs=1e-6)
    assert "test set" in acc["best_test"]["rule"] and "no selection" in acc["final"]["rule"]


class _Payload:
    def __reduce__(self):
        import os
        return (os.system, ("touch PWNED_BY_CHECKPOINT",))


def test_a_planted_pickle_checkpoint_is_refused_and_runs_no_code(data_root, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "runs"
    assert dfg_run.main(_args(data_root, out, "--dataset", "mnist", "--stop-after", "3")) == 3
    ckpt = out / "dfg" / "mnist-dfg-dfg-split0-seed0-smoke" / "checkpoints" / "train.pt"
    assert ckpt.exists()
    torch.save({"state": _Payload()}, ckpt)  # what an attacker would plant
    capsys.readouterr()
    assert dfg_run.main(_args(data_root, out, "--dataset", "mnist")) == 2
    err = capsys.readouterr().err.strip()
    assert not (tmp_path / "PWNED_BY_CHECKPOINT").exists()
    assert "train.pt" in err and "unreadable checkpoint" in err and len(err.splitlines()) == 1
    for name in ("source.pt",):  # the other checkpoints are read the same way
        (ckpt.parent / name).write_bytes(pickle.dumps(_Payload()))
        with pytest.raises(train.StageError):
            train._load(ckpt.parent / name, "source")
    assert not (tmp_path / "PWNED_BY_CHECKPOINT").exists()


def test_a_failed_checkpoint_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "train.pt"
    train.atomic_torch_save({"a": torch.zeros(2)}, path)

    def full_disk(obj, f, *a, **k):
        open(f, "wb").write(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(OSError):
        train.atomic_torch_save({"a": torch.ones(2)}, path)
    monkeypatch.undo()
    assert torch.equal(torch.load(path, weights_only=True)["a"], torch.zeros(2))
    assert [p.name for p in tmp_path.iterdir()] == ["train.pt"]
