"""The run skeleton every run.py uses: which runs a command makes, exit codes, stops, results, config resolution."""
import json
import types
from pathlib import Path

import pytest

from shared_data import config, errors, records, skeleton
from shared_data.metrics import compute


class FakeRun:
    def __init__(self, path):
        self.path = Path(path)
        self.written = None

    def write_result(self, result):
        self.written = result
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / "result.json").write_text(json.dumps(result))


def make_method(tmp_path, run=None, configure=None, **kw):
    calls = []

    def default_run(args, cfg, split_seed, seed):
        calls.append((split_seed, seed, cfg["lr"]))
        m = compute([0, 1, 1], [0, 1, 0])
        return skeleton.Outcome(FakeRun(tmp_path / f"run-{split_seed}-{seed}"), {"metrics": m, "variant": "toy"})

    def add_arguments(p):
        p.add_argument("--lr", type=float, default=None)

    method = skeleton.Method(
        name="toy", doc="a toy method", root=tmp_path / "toy_fw", datasets=("mnist",), add_arguments=add_arguments,
        configure=configure or (lambda a: config.resolve({"CONFIG": {"lr": 0.1}}, a.budget, {"lr": a.lr})),
        run=run or default_run, default_dataset="mnist", **kw)
    return method, calls


def test_seeds_and_split_seeds_make_one_run_per_pair(tmp_path, capsys):
    method, calls = make_method(tmp_path)
    assert skeleton.main(method, ["--seeds", "0,1", "--split-seeds", "3,4", "--lr", "0.5"]) == 0
    assert calls == [(3, 0, 0.5), (3, 1, 0.5), (4, 0, 0.5), (4, 1, 0.5)]
    out = capsys.readouterr().out
    assert "ACSA over 4 runs" in out and out.count("run-") == 4


def test_a_method_whose_seed_draws_the_split_pairs_them(tmp_path, capsys):
    method, calls = make_method(tmp_path, seed_draws_split=True)
    assert skeleton.main(method, ["--seeds", "1,2"]) == 0
    assert [c[:2] for c in calls] == [(1, 1), (2, 2)]
    assert skeleton.main(method, ["--seeds", "1", "--split-seeds", "2"]) == 2
    assert "drop --split-seeds" in capsys.readouterr().err


def test_one_run_by_default_with_the_method_defaults(tmp_path):
    method, calls = make_method(tmp_path, default_split_seed=1, default_seed=7)
    assert skeleton.main(method, []) == 0
    assert calls == [(1, 7, 0.1)]


@pytest.mark.parametrize("bad", [["--seeds", "1,1"], ["--seeds", ""], ["--seeds", "x"], ["--split-seeds", "-1"],
                                 ["--stop-after", "0"], ["--lr", "x"], ["--see", "1"]])
def test_bad_flags_end_with_one_line_and_exit_2(tmp_path, capsys, bad):
    method, calls = make_method(tmp_path)
    with pytest.raises(SystemExit) as exc:
        skeleton.main(method, bad)
    assert exc.value.code == 2 and not calls
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_defaults_are_the_repository_runs_and_data_folders(tmp_path, monkeypatch):
    monkeypatch.delenv("SHARED_DATA_ROOT", raising=False)
    method, _ = make_method(tmp_path)
    args = skeleton.build_parser(method).parse_args([])
    assert (Path(args.out), Path(args.data_root)) == (tmp_path / "runs", tmp_path / "data")
    monkeypatch.setenv("SHARED_DATA_ROOT", "/elsewhere")
    assert skeleton.build_parser(method).parse_args([]).data_root == "/elsewhere"


@pytest.mark.parametrize("exc, code, text", [
    (errors.DataError("mnist file missing"), 2, "error: mnist file missing"),
    (errors.ConfigError("bad key"), 2, "error: bad key"),
    (records.RunError("locked"), 2, "error: locked"),
    (ValueError("impossible count"), 2, "error: impossible count"),
    (PermissionError(13, "Permission denied", "/x"), 2, "/x: Permission denied"),
    (errors.RunStopped("stopped after epoch 2"), 3, "stopped after epoch 2; re-run the same command"),
    (KeyboardInterrupt(), 3, "stopped; re-run the same command"),
])
def test_each_kind_of_failure_has_its_exit_code_and_one_line(tmp_path, capsys, exc, code, text):
    def run(args, cfg, split_seed, seed):
        raise exc

    method, _ = make_method(tmp_path, run=run)
    assert skeleton.main(method, []) == code
    err = capsys.readouterr().err
    assert text in err and err.count("\n") == 1


def test_an_unexpected_error_is_not_hidden(tmp_path):
    def run(args, cfg, split_seed, seed):
        raise ZeroDivisionError("a bug")

    method, _ = make_method(tmp_path, run=run)
    with pytest.raises(ZeroDivisionError):
        skeleton.main(method, [])


def test_new_results_are_written_once_and_earlier_ones_are_not_rewritten(tmp_path):
    runs = {}

    def run(args, cfg, split_seed, seed):
        r = runs.setdefault(seed, FakeRun(tmp_path / str(seed)))
        return skeleton.Outcome(r, {"metrics": compute([0, 1], [0, 1])}, new=(seed == 0))

    method, _ = make_method(tmp_path, run=run)
    assert skeleton.main(method, ["--seeds", "0,1"]) == 0
    assert runs[0].written is not None and runs[1].written is None


def test_a_grid_runs_every_line_and_refuses_a_bad_line_before_anything_runs(tmp_path, capsys):
    method, calls = make_method(tmp_path)
    grid = tmp_path / "grid.txt"
    grid.write_text("-  # the default\n--lr 0.3\n\n# a comment\n--lr 0.4 --seed 5\n")
    assert skeleton.main(method, ["--grid", str(grid)]) == 0
    assert calls == [(0, 0, 0.1), (0, 0, 0.3), (0, 5, 0.4)]
    calls.clear()
    grid.write_text("--lr 0.3\n--lr nope\n")
    with pytest.raises(SystemExit):
        skeleton.main(method, ["--grid", str(grid)])
    assert calls == []


def test_config_resolution_refuses_unknown_keys():
    module = types.SimpleNamespace(__name__="configs.toy", CONFIG={"lr": 1.0, "steps": 10},
                                   BUDGETS={"quick": {"steps": 2}, "smoke": {"steps": 1}})
    assert config.resolve(module, "quick", {"lr": None}) == {"lr": 1.0, "steps": 2, "budget": "quick"}
    assert config.resolve(module, "full", {"lr": 0.5})["lr"] == 0.5
    with pytest.raises(errors.ConfigError, match="'stpes'.*did you mean 'steps'"):
        config.resolve(module, "quick", {"stpes": 3})
    module.BUDGETS["smoke"] = {"epochs": 1}
    with pytest.raises(errors.ConfigError, match="BUDGETS\\['smoke'\\].*'epochs'"):
        config.resolve(module, "full")
    with pytest.raises(errors.ConfigError, match="no 'tiny' budget"):
        config.resolve(types.SimpleNamespace(__name__="c", CONFIG={}, BUDGETS={}), "tiny")


def test_config_resolution_does_not_share_state_between_calls():
    module = {"CONFIG": {"layers": [1, 2]}, "BUDGETS": {}}
    cfg = config.resolve(module, "full")
    cfg["layers"].append(3)
    assert module["CONFIG"]["layers"] == [1, 2]


def test_publish_adds_a_new_run_and_shows_a_rerun_beside_its_record(tmp_path, capsys, monkeypatch):
    published = []
    monkeypatch.setattr(records, "publish", lambda path, results, allow_dirty=False: published.append(path) or path)
    results = tmp_path / "results"

    def run(args, cfg, split_seed, seed):
        r = FakeRun(tmp_path / "runs" / "toy" / "mnist-dgc-toy-split0-seed0-full")
        result = {"method": "toy", "variant": "toy", "dataset": "mnist", "split_id": "mnist-dgc-s0",
                  "split_seed": 0, "seed": 0, "budget": "full", "created_utc": "now", "machine_id": "m1",
                  "predictions_sha256": "a" * 64, "metrics": compute([0, 1, 1], [0, 1, 0])}
        return skeleton.Outcome(r, result)

    method, _ = make_method(tmp_path, run=run)
    assert skeleton.main(method, ["--publish", str(results)]) == 0
    out = capsys.readouterr().out
    assert len(published) == 1 and "no committed record of this run" in out
    record = results / "toy" / "mnist-dgc-toy-split0-seed0-full"
    record.mkdir(parents=True)
    (record / "result.json").write_text(json.dumps(
        {"method": "toy", "created_utc": "earlier", "machine_id": "m1", "predictions_sha256": "a" * 64,
         "device": "cpu", "git_commit": "abc", "metrics": {"acsa": 0.5}}))
    assert skeleton.main(method, ["--publish", str(results)]) == 0
    out = capsys.readouterr().out
    assert len(published) == 1, "a re-run of a committed record is not published as a new one"
    assert "re-runs a committed record" in out and "predictions identical, bit for bit" in out
    assert "ACSA +0.2500 from the record" in out


def test_a_part_of_a_run_asked_for_alone_ends_with_exit_0_and_writes_no_result(tmp_path, capsys):
    run_dir = FakeRun(tmp_path / "run")

    def run(args, cfg, split_seed, seed):
        return skeleton.Outcome(run_dir, None, new=False, note="stage source done; next: --stage train")

    method, _ = make_method(tmp_path, run=run)
    assert skeleton.main(method, ["--seeds", "0,1"]) == 0
    out = capsys.readouterr().out
    assert out.count("stage source done; next: --stage train") == 2 and run_dir.written is None
    assert "ACSA over" not in out
