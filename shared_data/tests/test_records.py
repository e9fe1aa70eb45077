import json

import numpy as np
import pytest

from shared_data import metrics, records
from shared_data.splits import Split
from shared_data.variants import Variant


def _split():
    manifest = {"split_id": "toy-dgc-s0", "content_hash": "ab" * 32, "train_counts": [3, 2, 1],
                "classes": ["a", "b", "c"]}
    z = np.zeros(1)
    return Split("toy", "dgc", 0, z, z, z, z, np.array([0, 0, 1, 1, 2, 2]), z, manifest=manifest)


def _result(**over):
    m = metrics.compute([0, 0, 1, 1, 2, 2], [0, 0, 1, 2, 2, 2], train_counts=[3, 2, 1])
    kw = dict(method="toy", framework="numpy", split=_split(), seed=1, budget="smoke", device="cpu: test",
              wall_time_s=1.5, metrics=m, config={"lr": 0.1}, variant="toy", paper_method="TOY")
    kw.update(over)
    name = kw.pop("variant")
    fixes = {"fix": True} if "+" in name else {}
    r = records.make_result(variant=Variant(name, not fixes, fixes), **kw)
    r["git_commit"] = "0" * 40  # records made here are not published from a dirty checkout
    return r


def _finish(run, result):
    """A finished run folder as a method leaves it: result, predictions that give its metrics, an evaluation line."""
    pred = [0, 0, 1, 2, 2, 2]
    run.write_result(result)
    run.save_predictions(y_true=np.array([0, 0, 1, 1, 2, 2]), y_pred=np.array(pred), scores=np.eye(3)[pred])
    run.log_eval("test", result["metrics"], step=1)
    return result


def test_result_round_trip_and_validation(tmp_path):
    run = records.RunDir.create(tmp_path, "toy", "toy-dgc-split0-seed1-smoke", {"lr": 0.1})
    r = _result()
    run.write_result(r)
    back = json.loads(run.result_path.read_text())
    assert back["split_hash"] == "ab" * 32 and back["budget"] == "smoke" and back["versions"]["numpy"]
    assert records.validate_result(back) == back
    assert (back["variant"], back["faithful"], back["fixes"], back["paper_method"], back["eval_subset"]) == \
        ("toy", True, {}, "TOY", "full")
    cm = r["metrics"]["confusion_matrix"]
    swapped = [cm[1], cm[0], cm[2]]  # same total, other cells: recall and accuracy no longer follow
    for broken, pattern in [(dict(r, budget="huge"), "budget"), ({k: v for k, v in r.items() if k != "device"},
                                                                  "missing device"),
                            (dict(r, metrics=dict(r["metrics"], acsa=1.7)), "metrics.acsa"),
                            (dict(r, n_test=99), "confusion matrix sums"),
                            (dict(r, fixes={"cls_loss": "ce"}), "faithful is true but fixes are set"),
                            (dict(r, faithful=False), "faithful is false but no fix"),
                            (dict(r, faithful="yes"), "faithful has type str"),
                            (dict(r, eval_subset=0), "eval_subset"), (dict(r, eval_subset="half"), "eval_subset"),
                            (dict(r, split_hash="abc"), "split_hash"), (dict(r, git_commit="HEAD"), "git_commit"),
                            (dict(r, versions={}), "versions is empty"), (dict(r, seed=-1), "seed is negative"),
                            (dict(r, train_counts=[3, -2, 1]), "train_counts"),
                            (dict(r, schema="shared_data/result/v1"), "migrate"),
                            ({k: v for k, v in r.items() if k != "paper_method"}, "paper_method"),
                            (dict(r, metrics=dict(r["metrics"], accuracy=0.5)), "accuracy contradicts"),
                            (dict(r, metrics=dict(r["metrics"], confusion_matrix=swapped)), "per_class_recall "
                                                                                            "contradicts")]:
        with pytest.raises(records.ResultValidationError, match=pattern):
            records.validate_result(broken)
    records.validate_result(dict(r, git_commit="f" * 40 + "+dirty"))
    records.validate_result(dict(r, eval_subset=50, paper_method=None))


def test_predictions_are_labels_and_probabilities(tmp_path):
    run = records.RunDir.create(tmp_path, "toy", "r", {})
    probs = np.array([[0.9, 0.1], [0.2, 0.8]])
    run.save_predictions(y_true=np.array([0, 1]), y_pred=np.array([0, 1]), scores=probs, logits=np.log(probs))
    with np.load(run.path / "predictions.npz") as f:
        assert sorted(f.files) == ["logits", "scores", "y_pred", "y_true"]
    for kwargs, pattern in [(dict(scores=np.log(probs)), "probabilities"), (dict(y_pred=np.array([0.0, 1.0])),
                                                                           "integer"),
                            (dict(y_true=np.array([0, 1, 1])), "differ in length"), (dict(scores=probs[:1]), "N, C")]:
        arrays = dict(dict(y_true=np.array([0, 1]), y_pred=np.array([0, 1]), scores=probs), **kwargs)
        with pytest.raises(records.ResultValidationError, match=pattern):
            run.save_predictions(**arrays)


def test_evaluation_records_have_one_shape(tmp_path):
    run = records.RunDir.create(tmp_path, "toy", "r", {})
    run.log_metrics({"step": 1, "loss": 0.5})
    m = metrics.compute([0, 1], [0, 1])
    rec = run.log_eval("test", m, epoch=3, wall_s=1.0)
    assert rec["metrics"]["acsa"] == 1.0 and "confusion_matrix" not in rec["metrics"] and rec["wall_s"] == 1.0
    log = records.validate_metrics_log(run.metrics_path)
    assert [r["kind"] for r in log] == ["train", "eval"]
    assert (log[1]["split"], log[1]["epoch"], log[1]["step"]) == ("test", 3, None)
    for kwargs, pattern in [(dict(split="dev", metrics=m, step=1), "split"), (dict(split="test", metrics=m),
                                                                               "step or epoch"),
                            (dict(split="test", metrics={}, step=1), "metrics"),
                            (dict(split="test", metrics=m, step=-1), "step or epoch")]:
        with pytest.raises(records.ResultValidationError, match=pattern):
            run.log_eval(**kwargs)
    with open(run.metrics_path, "a") as f:
        f.write('{"kind": "eval", "split": "test"}\n')
    with pytest.raises(records.ResultValidationError, match=":3: invalid evaluation record"):
        records.validate_metrics_log(run.metrics_path)


def test_device_is_the_machine_alone():
    assert records.describe_device().startswith("cpu: ") and records.describe_device().endswith(" cores)")
    assert records.describe_device(["NVIDIA H100", "NVIDIA H100"]) == "gpu: NVIDIA H100 x2"
    assert records.framework_version("numpy") == f"numpy {np.__version__}"


def test_run_dir_resumes_same_config_and_refuses_another(tmp_path):
    run = records.RunDir.create(tmp_path, "toy", "name", {"lr": 0.1, "steps": 10})
    run.log_metrics({"step": 1, "acsa": 0.5})
    run.log_metrics({"step": 2, "acsa": float("nan")})
    again = records.RunDir.create(tmp_path, "toy", "name", {"lr": 0.1, "steps": 10})
    assert [m["step"] for m in again.read_metrics()] == [1, 2]
    again.truncate_metrics(lambda rec: rec["step"] <= 1)
    assert again.read_metrics() == [{"kind": "train", "step": 1, "acsa": 0.5}]
    with pytest.raises(records.RunError, match="differs in lr"):
        records.RunDir.create(tmp_path, "toy", "name", {"lr": 0.2, "steps": 10})


def test_atomic_writes_leave_no_temporary_files(tmp_path):
    records.atomic_write_json(tmp_path / "a.json", {"x": np.float32(1.5), "y": np.arange(3)})
    records.atomic_save_npz(tmp_path / "p.npz", y=np.arange(4))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "p.npz"]
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o666 & ~records._umask()
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": 1.5, "y": [0, 1, 2]}


def test_publish_copies_only_finished_runs(tmp_path):
    run = records.RunDir.create(tmp_path / "runs", "toy", "r1", {})
    with pytest.raises(records.RunError, match="has not finished"):
        records.publish(run.path, tmp_path / "results")
    _finish(run, _result())
    target = records.publish(run.path, tmp_path / "results")
    assert target == tmp_path / "results" / "toy" / "r1" / "result.json"
    assert json.loads(target.read_text()) == run.read_result()
    assert (target.parent / "metrics.jsonl").read_bytes() == (run.path / "metrics.jsonl").read_bytes()
    assert sorted(p.name for p in target.parent.iterdir()) == ["metrics.jsonl", "result.json"]


def test_publish_refuses_a_run_without_its_training_log(tmp_path):
    run = records.RunDir.create(tmp_path / "runs", "toy", "r1", {})
    run.write_result(_result())
    with pytest.raises(records.RunError, match="no metrics.jsonl"):
        records.publish(run.path, tmp_path / "results")
    assert not (tmp_path / "results").exists()


def test_publish_never_replaces_a_result_from_another_device(tmp_path):
    results = tmp_path / "results"
    first = records.RunDir.create(tmp_path / "a", "toy", "r1", {})
    _finish(first, _result(device="cpu: AMD EPYC (2 cores)"))
    assert records.publish(first.path, results) == results / "toy" / "r1" / "result.json"
    again = records.RunDir.create(tmp_path / "b", "toy", "r1", {})
    _finish(again, _result(device="cpu: AMD EPYC (2 cores)", wall_time_s=2.5))
    assert records.publish(again.path, results, replace=True) == results / "toy" / "r1" / "result.json"  # a re-run
    other = records.RunDir.create(tmp_path / "c", "toy", "r1", {})
    _finish(other, _result(device="cpu: Intel(R) Xeon(R) Processor (2 cores)", wall_time_s=3.5))
    target = records.publish(other.path, results)
    assert target == results / "toy" / "r1--cpu-intel-r-xeon-r-processor-2-cores" / "result.json"
    assert json.loads(target.read_text())["wall_time_s"] == 3.5
    assert json.loads((results / "toy" / "r1" / "result.json").read_text())["wall_time_s"] == 2.5
    assert records.publish(other.path, results) == target  # and its own re-run replaces it there


def test_publish_gives_each_machine_identity_its_own_folder(tmp_path):
    """Two machines under one label each keep their record, wherever the earlier records of the run lie."""
    results, amd, intel = tmp_path / "results", "cpu: AMD EPYC (2 cores)", "cpu: Intel(R) Xeon(R) Processor (2 cores)"
    base = _result()["machine"]
    ids = {}

    def publish(where, machine, **over):
        run = records.RunDir.create(tmp_path / where, "toy", "r1", {})
        # one creation time for all: a re-run published again is the same record only if its bytes are
        result = _finish(run, dict(_result(machine=dict(base, extra={"which": machine}), **over),
                                   created_utc="2026-01-01T00:00:00Z"))
        ids[machine] = result["machine_id"]
        return records.publish(run.path, results).parent.name

    assert publish("a", "i1", device=intel) == "r1"
    assert publish("b", "a1", device=amd) == "r1--cpu-amd-epyc-2-cores"
    # another AMD EPYC: neither the Intel folder nor the first AMD one is its own
    assert publish("c", "a2", device=amd, wall_time_s=2.5) == f"r1--cpu-amd-epyc-2-cores-{ids['a2']}"
    assert publish("d", "a1", device=amd) == "r1--cpu-amd-epyc-2-cores"  # the first one's re-run
    assert publish("e", "i2", device=intel, wall_time_s=3.5) == \
        f"r1--cpu-intel-r-xeon-r-processor-2-cores-{ids['i2']}"  # the run's own folder has its label: its identity
    walls = {p.parent.name: json.loads(p.read_text())["wall_time_s"] for p in results.glob("toy/*/result.json")}
    assert walls == {"r1": 1.5, "r1--cpu-amd-epyc-2-cores": 1.5, f"r1--cpu-amd-epyc-2-cores-{ids['a2']}": 2.5,
                     f"r1--cpu-intel-r-xeon-r-processor-2-cores-{ids['i2']}": 3.5}
    assert len(set(ids.values())) == 4


def test_run_name_is_config_derived():
    assert records.run_name("fashion", "gamo", 0, 3, "full", variant="baseline") == \
        "fashion-gamo-baseline-split0-seed3-full"
    assert records.run_name("mnist", "dgc", 1, 1, "quick", variant="caleg r=1+cov-ridge=0.001") == \
        "mnist-dgc-caleg-r1+cov-ridge0.001-split1-seed1-quick"


def test_publish_refuses_a_run_from_uncommitted_code_unless_allowed(tmp_path):
    run = records.RunDir.create(tmp_path / "runs", "toy", "r1", {})
    _finish(run, dict(_result(), git_commit="a" * 40 + "+dirty"))
    with pytest.raises(records.RunError, match="uncommitted code"):
        records.publish(run.path, tmp_path / "results")
    assert not (tmp_path / "results").exists()
    target = records.publish(run.path, tmp_path / "results", allow_dirty=True)
    assert json.loads(target.read_text())["published_with_allow_dirty"] is True


def test_git_commit_names_the_checkout_the_run_starts_in(tmp_path, monkeypatch):
    import subprocess

    repo = tmp_path / "clone"
    repo.mkdir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(repo)]
    subprocess.run(git + ["init", "-q"], check=True)
    (repo / "f.txt").write_text("a\n")
    subprocess.run(git + ["add", "f.txt"], check=True)
    subprocess.run(git + ["commit", "-q", "-m", "one"], check=True)
    head = subprocess.run(git + ["rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    monkeypatch.chdir(repo)
    assert records.git_commit() == head
    # a published result and a regenerated README are not code: the next run still names a clean commit
    for name in ("results/m/run/result.json", "README.md", "m/README.md"):
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text("a\n")
    subprocess.run(git + ["add", "."], check=True)
    subprocess.run(git + ["commit", "-q", "-m", "two"], check=True)
    head = subprocess.run(git + ["rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    for name in ("results/m/run/result.json", "README.md", "m/README.md"):
        (repo / name).write_text("b\n")
    assert records.git_commit() == head
    (repo / "f.txt").write_text("b\n")
    assert records.git_commit() == head + "+dirty"
    monkeypatch.chdir(tmp_path)  # not a checkout: falls back to the repository holding shared_data
    assert records.git_commit() == records.git_commit(records.Path(records.__file__).resolve().parent)
