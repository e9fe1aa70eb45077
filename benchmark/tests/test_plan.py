"""Plans: what the shipped ones expand to, and the one-line errors of a wrong one."""
import subprocess
from pathlib import Path

import pytest

from benchmark import plan as plans
from benchmark.engine import Runner

from .conftest import PACKAGE_ROOT as ROOT

METHOD_FOLDERS = sorted(p.parent.name for p in ROOT.glob("*_*/run.py"))


def _cells(jobs, **where):
    return [j for j in jobs if all(getattr(j, k) == v for k, v in where.items())]


def test_the_smoke_plan_runs_every_method_folder_once_at_the_smoke_budget():
    smoke = plans.load("smoke")
    assert sorted(j.folder for j in smoke.jobs) == METHOD_FOLDERS, "a method folder is missing from smoke.toml"
    assert {(j.budget, j.dataset, j.role) for j in smoke.jobs} == {("smoke", "mnist", "method")}


def test_the_quick_plan_crosses_methods_datasets_and_split_seeds_with_each_baseline():
    quick = plans.load("quick")
    assert {j.budget for j in quick.jobs} == {"quick"}
    for folder in ("gamo_keras", "dgc_tf", "caleg_tf", "imsic_torch"):
        runs = _cells(quick.jobs, folder=folder, role="method")
        assert sorted((j.dataset, j.protocol, j.split_seed) for j in runs) == sorted(
            (d, "dgc", s) for d in ("mnist", "fashion") for s in (1, 2, 3)), folder
    # the original loops of CaLeG and IMSIC train seed s on split s; the others keep training seed 0
    assert {(j.split_seed, j.seed) for j in _cells(quick.jobs, folder="caleg_tf")} == {(1, 1), (2, 2), (3, 3)}
    assert {(j.split_seed, j.seed) for j in _cells(quick.jobs, folder="imsic_torch")} == {(1, 1), (2, 2), (3, 3)}
    assert {j.seed for j in _cells(quick.jobs, folder="gamo_keras")} == {0}
    # baselines: same cells, their own model flag and variant name
    for folder, variant, flag in (("gamo_keras", "baseline", "baseline"), ("imsic_torch", "baseline", "baseline"),
                                  ("dfg_torch", "original", "original")):
        base = _cells(quick.jobs, folder=folder, role="baseline")
        meth = _cells(quick.jobs, folder=folder, role="method")
        assert [(j.dataset, j.split_seed, j.seed) for j in base] == [(j.dataset, j.split_seed, j.seed) for j in meth]
        assert {(j.variant, j.args) for j in base} == {(variant, ("--model", flag))}
    dfg = _cells(quick.jobs, folder="dfg_torch")
    assert {(j.dataset, j.protocol) for j in dfg} == {("fashion", "dfg")}
    assert len(quick.jobs) == 6 * 6 + 2 * 3  # 4 methods and 2 baselines x 6 cells; DFG and its baseline x 3


def test_the_full_plan_is_the_quick_plan_at_the_full_budget_with_sbatch_options_and_estimates():
    quick, full = plans.load("quick"), plans.load("full")
    strip = [(j.folder, j.role, j.variant, j.dataset, j.protocol, j.split_seed, j.seed, j.args) for j in quick.jobs]
    assert [(j.folder, j.role, j.variant, j.dataset, j.protocol, j.split_seed, j.seed, j.args)
            for j in full.jobs] == strip
    assert {j.budget for j in full.jobs} == {"full"}
    assert all(j.estimate for j in full.jobs), "each method's README estimate belongs in the full plan"
    assert all(j.slurm.get("gpus_per_node") == 1 for j in full.jobs)
    # the partition, account and setup lines belong to the cluster: `benchmark run --partition ...` gives them
    assert not any({"partition", "account"} & set(j.slurm) or j.slurm.get("setup") for j in full.jobs)
    assert {j.slurm["time"] for j in _cells(full.jobs, folder="gamo_keras")} == {120}


def test_the_smoke_plan_keeps_its_results_out_of_the_committed_folder(tmp_path):
    """`make benchmark PLAN=smoke` passes --results <repo>/results and --readme README.md: the smoke plan's own
    `results` (under the git-ignored runs/) takes the committed folder's place, and the README is left alone;
    any other --results (a test's temporary folder) is kept."""
    from benchmark.cli import plan_results

    smoke, quick = plans.load("smoke"), plans.load("quick")
    assert smoke.results == "runs/benchmark-smoke/results" and quick.results is None
    assert plan_results(str(ROOT / "results"), smoke, ROOT) == ROOT / "runs" / "benchmark-smoke" / "results"
    assert plan_results(None, smoke, ROOT) == ROOT / "runs" / "benchmark-smoke" / "results"
    assert plan_results(str(tmp_path / "r"), smoke, ROOT) == tmp_path / "r"
    assert plan_results(str(ROOT / "results"), quick, ROOT) == ROOT / "results"
    ignored = subprocess.run(["git", "check-ignore", "-q", "runs/benchmark-smoke/results/gamo/x/result.json"],
                             cwd=ROOT)
    assert ignored.returncode == 0, "the smoke plan's results folder must be git-ignored"
    from benchmark import results

    text = results.plan_section(smoke, ROOT / "results" / "benchmark" / "smoke.csv", ROOT, None, None)
    assert "runs/benchmark-smoke/results" in text and "Not run yet" not in text


def test_a_job_runs_run_py_in_its_folder_with_the_environment_env_sh_names(tmp_path):
    smoke = plans.load("smoke")
    runner = Runner(smoke, repo=ROOT, runs=tmp_path / "runs", data_root=tmp_path / "data",
                    results=tmp_path / "results")
    job = _cells(smoke.jobs, folder="caleg_tf")[0]
    env = subprocess.run([str(ROOT / "environments" / "env.sh"), "--path", "caleg_tf"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout.strip()
    assert runner.command(job) == [
        str(ROOT / env / "bin" / "python"), "run.py", "--dataset", "mnist", "--protocol", "dgc", "--split-seed", "1",
        "--seed", "1", "--budget", "smoke", "--aug-rate", "1", "--out", str(tmp_path / "runs"),
        "--data-root", str(tmp_path / "data"), "--publish", str(tmp_path / "results"), "--no-progress"]
    assert runner.env(job)["TF_NUM_INTRAOP_THREADS"] == "1" and runner.env(job)["OMP_NUM_THREADS"] == "1"
    assert runner.rerun_line(job).startswith(f"cd {ROOT / 'caleg_tf'} && OMP_NUM_THREADS=1 ")


def test_the_benchmark_environment_gets_its_own_name_and_the_method_environments_keep_theirs():
    def path(folder):
        return subprocess.run([str(ROOT / "environments" / "env.sh"), "--path", folder], cwd=ROOT,
                              capture_output=True, text=True, check=True).stdout.strip()

    assert Path(path("benchmark")).name.startswith("benchmark-")
    assert Path(path("gamo_keras")).name.startswith("tf-") and path("gamo_keras") == path("caleg_tf")
    assert Path(path("imsic_torch")).name.startswith("torch-") and path("imsic_torch") == path("dfg_torch")


BASE = """
budget = "smoke"
datasets = ["mnist"]
protocol = "dgc"
split_seeds = [1]
[methods.alpha_np]
variant = "alpha"
"""


@pytest.mark.parametrize("text, message", [
    (BASE + "colour = 'red'\n", "[methods.alpha_np]: unknown key(s) colour"),
    (BASE.replace('variant = "alpha"', ""), "the method needs its variant name"),
    (BASE.replace('"smoke"', '"huge"'), "budget 'huge' not in"),
    (BASE.replace("[1]", "[-1]"), "split_seeds: a list of non-negative integers"),
    (BASE + "[methods.alpha_np.slurm]\npartitions = 'gpu'\n", "unknown key(s) partitions"),
    (BASE.replace("alpha_np", "alpha"), "a method folder is named <method>_<framework>"),
    (BASE + "baseline = { variant = 'alpha' }\n", "the same run twice"),
    ("budget = 'smoke'\n", "no [methods.<folder>] table"),
    (BASE + "seeds = 'tied'\n", "seeds ('split' or a list)"),
    (BASE + "[methods.alpha_np.slurm]\nsetup = 'module load cuda'\n", "setup is a list of shell lines"),
    ("results = 3\n" + BASE, "results is a folder path"),
])
def test_a_wrong_plan_is_one_error_naming_the_file_and_key(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(plans.PlanError) as err:
        plans.load(path)
    assert message in str(err.value) and str(path) in str(err.value)


def test_an_unknown_plan_name_lists_the_shipped_ones():
    with pytest.raises(plans.PlanError, match="full, quick, smoke"):
        plans.load("weekly")


def test_the_full_plan_goes_out_as_four_job_arrays_and_command_line_options_merge_them(tmp_path):
    """One array per environment and sbatch options: GAMO (TF, 2 h), DGC and CaLeG (TF, 24 h), IMSIC (torch, 24 h),
    DFG (torch, 12 h). One --time for all leaves one array per environment."""
    full = plans.load("full")
    runner = Runner(full, repo=ROOT, runs=tmp_path / "runs", data_root=tmp_path / "data", results=tmp_path / "r")
    arrays = runner.slurm_arrays(runner.jobs)
    assert [sorted({j.folder for j in a}) for a in arrays] == [["gamo_keras"], ["caleg_tf", "dgc_tf"],
                                                               ["imsic_torch"], ["dfg_torch"]]
    assert [len(a) for a in arrays] == [12, 12, 12, 6]
    params = runner.slurm_parameters(arrays[1])
    assert params["job_name"] == "full--dgc_tf+caleg_tf" and params["time"] == 1440
    assert sum(line.startswith("# task ") for line in params["setup"]) == 12
    over = Runner(full, repo=ROOT, runs=tmp_path / "runs", data_root=tmp_path / "data", results=tmp_path / "r",
                  slurm={"time": 600, "partition": "a100", "setup": ["module load cuda"]})
    assert [len(a) for a in over.slurm_arrays(over.jobs)] == [24, 18]
    opts = over.slurm_options(over.jobs[0])
    assert (opts["time"], opts["partition"], opts["setup"]) == (600, "a100", ["module load cuda"])
