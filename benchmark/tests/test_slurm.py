"""The Slurm path without a cluster: fake ``sbatch``, ``srun``, ``sacct``, ``squeue``, ``scancel`` on PATH.

``sbatch`` keeps each script it is given and answers as Slurm does; with ``$FAKE_SLURM_RUN`` set it also runs the
script as the cluster would, each array task in the background with Slurm's variables, and keeps the task's state
(PENDING, RUNNING, COMPLETED or FAILED) where ``sacct`` finds it. Otherwise ``sacct`` and ``squeue`` answer from
files the test writes, and the test runs a submitted script itself, as a compute node would (``srun`` just runs
its command). Submission, the sbatch text, job-id parsing, the job itself and status polling are all real.
"""
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from benchmark import cluster
from benchmark.jobs import alive

from .conftest import PACKAGE_ROOT

FAKES = {
    "sbatch": """\
        #!/usr/bin/env bash
        # sbatch <script>: keep the script, answer with a new job id; with $FAKE_SLURM_RUN, run it (every task of
        # an array) in the background as the cluster would, its state in $FAKE_SLURM/state-<id>[_<task>]
        script=$1
        id=$(cat "$FAKE_SLURM/next_id"); echo $((id + 1)) > "$FAKE_SLURM/next_id"
        cp "$script" "$FAKE_SLURM/submitted/$id.sh"
        echo "$id" >> "$FAKE_SLURM/sbatch_calls"
        if [ -n "$FAKE_SLURM_RUN" ]; then
          range=$(sed -n 's/^#SBATCH --array=\\([0-9]*\\)-\\([0-9]*\\).*/\\1 \\2/p' "$script")
          tasks=none; [ -n "$range" ] && tasks=$(seq $range)
          for task in $tasks; do
            if [ "$task" = none ]; then name=$id; array=(); else
              name=${id}_$task; array=(SLURM_ARRAY_JOB_ID=$id SLURM_ARRAY_TASK_ID=$task); fi
            echo PENDING > "$FAKE_SLURM/state-$name"
            (
              echo RUNNING > "$FAKE_SLURM/state-$name"
              if env -u PYTHONPATH "${array[@]}" SLURM_JOB_ID=$((id * 1000 + ${task/none/0})) SLURM_NTASKS=1 \\
                  SLURM_PROCID=0 SLURM_LOCALID=0 SLURM_NODEID=0 SLURM_JOB_NUM_NODES=1 SLURM_JOB_NODELIST=node1 \\
                  bash "$FAKE_SLURM/submitted/$id.sh"; then s=COMPLETED; else s=FAILED; fi
              echo $s > "$FAKE_SLURM/state-$name.new" && mv "$FAKE_SLURM/state-$name.new" "$FAKE_SLURM/state-$name"
            ) </dev/null >/dev/null 2>&1 &
          done
        fi
        echo "Submitted batch job $id"
        """,
    "sacct": """\
        #!/usr/bin/env bash
        # sacct ... -j ID[,ID...]: the states in $FAKE_SLURM/state-ID and state-ID_<task>
        echo "$*" >> "$FAKE_SLURM/sacct_calls"
        [ -n "$FAKE_SLURM_DOWN" ] && { echo "Unable to contact slurm controller" >&2; exit 1; }
        echo "JobID|State|NodeList"
        while [ $# -gt 0 ]; do
          if [ "$1" = "-j" ]; then
            for id in ${2//,/ }; do
              for f in "$FAKE_SLURM/state-$id" "$FAKE_SLURM"/state-${id}_*; do
                case "$f" in *.new) continue ;; esac
                [ -f "$f" ] && echo "${f##*/state-}|$(cat "$f")|node1"
              done
            done
            shift
          fi
          shift
        done
        """,
    "squeue": """\
        #!/usr/bin/env bash
        # squeue -h -r -o %i|%T|%N -j ID[,ID...]: the states in $FAKE_SLURM/squeue-ID[_<task>]
        echo "$*" >> "$FAKE_SLURM/squeue_calls"
        [ -n "$FAKE_SLURM_DOWN" ] && { echo "Unable to contact slurm controller" >&2; exit 1; }
        while [ $# -gt 0 ]; do
          if [ "$1" = "-j" ]; then
            for id in ${2//,/ }; do
              for f in "$FAKE_SLURM/squeue-$id" "$FAKE_SLURM"/squeue-${id}_*; do
                [ -f "$f" ] && echo "${f##*/squeue-}|$(cat "$f")|node1"
              done
            done
            shift
          fi
          shift
        done
        exit 0
        """,
    "scancel": """\
        #!/usr/bin/env bash
        # scancel ID...: the jobs end CANCELLED
        echo "$*" >> "$FAKE_SLURM/scancel_calls"
        for id in "$@"; do echo CANCELLED > "$FAKE_SLURM/state-$id"; done
        """,
    "srun": """\
        #!/usr/bin/env bash
        # srun --unbuffered --output OUT --error ERR command...: run the command on this "node"
        out=; err=
        sub() { local s=${1//%j/$SLURM_JOB_ID}; s=${s//%A/$SLURM_ARRAY_JOB_ID}; s=${s//%a/$SLURM_ARRAY_TASK_ID}
                echo "${s//%t/0}"; }
        while [ $# -gt 0 ]; do
          case "$1" in
            --unbuffered) shift ;;
            --output) out=$(sub "$2"); shift 2 ;;
            --error) err=$(sub "$2"); shift 2 ;;
            *) break ;;
          esac
        done
        exec "$@" >> "$out" 2>> "$err"
        """,
    "module": "#!/usr/bin/env bash\nexit 0\n",
    "scontrol": """\
        #!/usr/bin/env bash
        # scontrol requeue ID
        echo "$*" >> "$FAKE_SLURM/scontrol_calls"
        """,
}

ALPHA = ["alpha_np--alpha--mnist-dgc-split1-seed0-smoke", "alpha_np--alpha--mnist-dgc-split2-seed0-smoke",
         "alpha_np--baseline--mnist-dgc-split1-seed0-smoke", "alpha_np--baseline--mnist-dgc-split2-seed0-smoke"]
BETA = ["beta_np--beta--mnist-dgc-split1-seed0-smoke", "beta_np--beta--mnist-dgc-split2-seed0-smoke"]


@pytest.fixture
def slurm(repo, tmp_path):
    bin_dir, state = tmp_path / "fake-bin", tmp_path / "fake-slurm"
    bin_dir.mkdir()
    (state / "submitted").mkdir(parents=True)
    (state / "next_id").write_text("4242\n")
    for name, text in FAKES.items():
        (bin_dir / name).write_text(textwrap.dedent(text))
        (bin_dir / name).chmod(0o755)
    env = repo.env(FAKE_SLURM=str(state), PATH=f"{bin_dir}:{os.environ['PATH']}")
    return state, env


def _calls(state, tool) -> list[str]:
    path = state / f"{tool}_calls"
    return path.read_text().splitlines() if path.exists() else []


def _node_env(env, job_id):
    """What Slurm sets for an array task on its node (the runner's PYTHONPATH does not travel there)."""
    array, task = job_id.split("_")
    node = dict(env, SLURM_JOB_ID=str(int(array) * 1000 + int(task)), SLURM_ARRAY_JOB_ID=array,
                SLURM_ARRAY_TASK_ID=task, SLURM_NTASKS="1", SLURM_PROCID="0", SLURM_LOCALID="0", SLURM_NODEID="0",
                SLURM_JOB_NUM_NODES="1", SLURM_JOB_NODELIST="node1")
    node.pop("PYTHONPATH")
    return node


def _submit(repo, env, *flags) -> tuple[dict[str, str], str]:
    p = repo.bench("run", "--cluster", "slurm", "--allow-dirty", *flags, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    return dict(re.findall(r"^submit (\S+): slurm job (\S+)$", p.stdout, re.M)), p.stdout


def test_a_plan_goes_out_as_one_job_array_per_environment_and_sbatch_options(repo, slurm):
    state, env = slurm
    ids, out = _submit(repo, env)
    # alpha's four runs share the plan's options with its own 90-minute limit; beta keeps the plan's 30 minutes
    assert _calls(state, "sbatch") == ["4242", "4243"], "one sbatch per array, not per run"
    assert ids == {**{n: f"4242_{i}" for i, n in enumerate(ALPHA)}, **{n: f"4243_{i}" for i, n in enumerate(BETA)}}
    script = (state / "submitted" / "4242.sh").read_text()
    sub = repo.runs / "benchmark" / "plan" / "submitit"
    venv = repo.root / ".venvs" / "fake-0123"

    def rerun(folder, model, split):
        flags = ["--model", "baseline"] if model == "baseline" else []
        cmd = [f"{venv}/bin/python", "run.py", "--dataset", "mnist", "--protocol", "dgc", "--split-seed", str(split),
               "--seed", "0", "--budget", "smoke", *flags, "--out", str(repo.runs), "--data-root",
               str(repo.root / "data"), "--publish", str(repo.results), "--no-progress", "--allow-dirty"]
        return (f"cd {repo.root / folder} && OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 "
                f"NUMEXPR_NUM_THREADS=2 TF_NUM_INTRAOP_THREADS=2 TF_NUM_INTEROP_THREADS=2 {shlex.join(cmd)}")

    tasks = "\n".join(f"# task {i}: {rerun('alpha_np', m, s)}"
                      for i, (m, s) in enumerate([("alpha", 1), ("alpha", 2), ("baseline", 1), ("baseline", 2)]))
    expected = f"""\
#!/bin/bash

# Parameters
#SBATCH --array=0-3%4
#SBATCH --cpus-per-task=2
#SBATCH --error={sub}/%A_%a_0_log.err
#SBATCH --gpus-per-node=1
#SBATCH --job-name=plan--alpha_np
#SBATCH --mem=8G
#SBATCH --nodes=1
#SBATCH --open-mode=append
#SBATCH --output={sub}/%A_%a_0_log.out
#SBATCH --partition=gpu
#SBATCH --signal=USR2@90
#SBATCH --time=90
#SBATCH --wckey=submitit

# setup
module load cuda/12.4
{tasks}
source {venv}/bin/activate
export PYTHONPATH={PACKAGE_ROOT}${{PYTHONPATH:+:$PYTHONPATH}}

# command
export SUBMITIT_EXECUTOR=slurm
srun --unbuffered --output {sub}/%A_%a_%t_log.out --error {sub}/%A_%a_%t_log.err {shlex.quote(sys.executable)} -u -m submitit.core._submit {sub}
"""
    assert script == expected
    beta = (state / "submitted" / "4243.sh").read_text()
    assert "#SBATCH --time=30\n" in beta and "#SBATCH --array=0-1%2\n" in beta and "#SBATCH --partition=gpu\n" in beta
    # the runner says that the pytest folders under /tmp are no place for a cluster's jobs
    assert "warning: the compute nodes must see the checkout" in out and f"runs: {repo.runs} is under /tmp" in out


def test_command_line_sbatch_options_override_the_plan_and_add_setup_lines(repo, slurm):
    state, env = slurm
    ids, _ = _submit(repo, env, "--partition", "debug", "--account", "proj-7", "--time", "45", "--mem", "4G",
                     "--gpus-per-node", "0", "--cpus-per-task", "3", "--array-parallelism", "2",
                     "--setup", "module load python/3.11", "--setup", "export X=1")
    # one time limit for everyone: alpha and beta (same environment) now share one array
    assert _calls(state, "sbatch") == ["4242"] and sorted(ids.values()) == [f"4242_{i}" for i in range(6)]
    script = (state / "submitted" / "4242.sh").read_text()
    for line in ("--array=0-5%2", "--partition=debug", "--account=proj-7", "--time=45", "--mem=4G",
                 "--cpus-per-task=3"):
        assert f"#SBATCH {line}\n" in script, line
    assert "--gpus-per-node" not in script, "--gpus-per-node 0 drops the plan's GPU request"
    setup = script.split("# setup\n")[1].split("\n\n")[0].splitlines()
    assert setup[:3] == ["module load cuda/12.4", "module load python/3.11", "export X=1"]  # the plan's, then ours
    assert setup[-2].startswith("source ") and setup[-2].endswith("/bin/activate")


def test_status_polls_sacct_once_for_every_job_and_squeue_once_for_those_it_does_not_list(repo, slurm):
    state, env = slurm
    ids, _ = _submit(repo, env)
    done, failed, queued = ALPHA[0], ALPHA[1], BETA[0]
    (state / f"state-{ids[done]}").write_text("PENDING\n")
    (state / f"squeue-{ids[queued]}").write_text("RUNNING\n")  # not (yet) in accounting: squeue knows it
    st = repo.status(env=env)
    assert st[done]["state"] == "running" and st[done]["detail"] == f"slurm job {ids[done]} PENDING on node1"
    assert st[queued]["state"] == "running" and st[queued]["detail"] == f"slurm job {ids[queued]} RUNNING on node1"
    assert _calls(state, "sacct") == ["-X -o JobID,State,NodeList --parsable2 -j 4242,4243"], \
        "one sacct call for the whole plan"
    assert _calls(state, "squeue") == ["-h -r -o %i|%T|%N -j 4242,4243"]

    # the cluster starts the task: its script runs on a "node", where srun runs submitit's worker
    ran = subprocess.run(["bash", str(state / "submitted" / "4242.sh")], env=_node_env(env, ids[done]),
                         capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    (state / f"state-{ids[done]}").write_text("COMPLETED\n")
    (state / f"state-{ids[failed]}").write_text("FAILED\n")  # ended without running run.py to the end
    st = repo.status(env=env)
    assert len(_calls(state, "sacct")) == 2
    assert st[done]["state"] == "done", st[done]
    assert st[done]["results"] == [str(repo.results / "alpha" / "mnist-dgc-alpha-split1-seed0-smoke" / "result.json")]
    assert st[failed]["state"] == "failed"
    assert st[failed]["detail"] == f"slurm job {ids[failed]} ended FAILED without a published result"

    # submitting again: the published run and the queued ones are left alone, the failed one goes again
    for name, job_id in ids.items():
        if name not in (done, failed, queued):
            (state / f"state-{job_id}").write_text("PENDING\n")
    again, _ = _submit(repo, env)
    assert again == {failed: "4244"}  # a single run: a plain job, not an array


def test_a_cluster_that_does_not_answer_leaves_the_runs_running_not_failed(repo, slurm):
    state, env = slurm
    ids, _ = _submit(repo, env)
    record = repo.runs / "benchmark" / "plan" / "jobs" / f"{BETA[0]}.json"
    record.write_text(json.dumps(dict(json.loads(record.read_text()), state="running")))  # its worker started
    st = repo.status(env=dict(env, FAKE_SLURM_DOWN="1"))
    assert st[BETA[0]]["state"] == "running" and "state unknown" in st[BETA[0]]["detail"]
    assert "Unable to contact slurm controller" in st[BETA[0]]["detail"]
    assert json.loads(record.read_text())["state"] == "running", "no answer is no reason to record a failure"
    (state / f"state-{ids[BETA[0]]}").write_text("FAILED\n")
    assert repo.status(env=env)[BETA[0]]["state"] == "failed"


def test_a_job_at_its_time_limit_stops_run_py_at_a_checkpoint_and_is_requeued_then_resumes(repo, slurm):
    """Slurm's USR2 (90 s before the limit) reaches the job's processes: run.py ignores it, submitit's worker stops
    run.py with SIGTERM, requeues the array task (scontrol requeue) and exits; the requeued task resumes the run
    folder."""
    state, env = slurm
    ids, _ = _submit(repo, env)
    name = BETA[1]
    job_id = ids[name]
    assert job_id == "4243_1"
    block = repo.control / "block-beta-mnist-dgc-beta-split2-seed0-smoke"
    block.touch()
    script = state / "submitted" / "4243.sh"
    node = subprocess.Popen(["bash", str(script)], env=_node_env(env, job_id), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    record_path = repo.runs / "benchmark" / "plan" / "jobs" / f"{name}.json"
    started = repo.runs / "beta" / "mnist-dgc-beta-split2-seed0-smoke" / "started"
    deadline = time.time() + 120
    while time.time() < deadline and not (started.exists() and json.loads(record_path.read_text()).get("child_pid")):
        time.sleep(0.1)
    record = json.loads(record_path.read_text())
    assert record["state"] == "running" and record["submitit_job_id"] == job_id
    assert (record["slurm_array_job_id"], record["slurm_array_task_id"]) == ("4243", "1")
    os.kill(record["child_pid"], signal.SIGUSR2)
    time.sleep(0.5)
    assert alive(record["child_pid"], record["child_start"]), "run.py must not die of Slurm's warning signal"
    os.kill(record["pid"], signal.SIGUSR2)  # the worker: checkpoint (stop run.py) and requeue
    node.wait(timeout=120)
    assert not alive(record["child_pid"], record["child_start"])
    assert (state / "scontrol_calls").read_text().split() == ["requeue", job_id]
    assert json.loads(record_path.read_text())["state"] == "requeued"
    (state / f"state-{job_id}").write_text("REQUEUED\n")
    assert repo.status(env=env)[name]["detail"] == f"slurm job {job_id} REQUEUED on node1"

    block.unlink()  # Slurm starts the requeued task: the same script, the same task id
    again = subprocess.run(["bash", str(script)], env=_node_env(env, job_id), capture_output=True, text=True,
                           timeout=120)
    assert again.returncode == 0, again.stderr
    (state / f"state-{job_id}").write_text("COMPLETED\n")
    assert repo.status(env=env)[name]["state"] == "done"
    calls = [c for c in repo.invocations() if c["run"] == "beta-mnist-dgc-beta-split2-seed0-smoke"]
    assert [c["resumed"] for c in calls] == [False, True], "the requeued job continued in its run folder"


TWO_RUNS = """
description = "two runs"
budget = "smoke"
datasets = ["mnist"]
protocol = "dgc"
split_seeds = [1]
threads = 1

[slurm]
partition = "gpu"
time = 30
setup = ["module load cuda/12.4"]

[methods.alpha_np]
variant = "alpha"

[methods.beta_np]
variant = "beta"
"""


def test_end_to_end_a_two_run_plan_is_one_array_that_runs_publishes_and_shows_in_status(repo, slurm):
    """The fake cluster runs what it is given: both runs of the array publish, and `status` (one sacct call each
    time) follows them from submitted to done, one line and one bar each."""
    state, env = slurm
    repo.plan.write_text(TWO_RUNS)
    env = dict(env, FAKE_SLURM_RUN="1")
    ids, out = _submit(repo, env, "--partition", "short", "--setup", "module load python/3.11")
    names = ["alpha_np--alpha--mnist-dgc-split1-seed0-smoke", "beta_np--beta--mnist-dgc-split1-seed0-smoke"]
    assert ids == {names[0]: "4242_0", names[1]: "4242_1"} and _calls(state, "sbatch") == ["4242"]
    assert "slurm array of 2 runs 4242 (plan--alpha_np+beta_np): " in out and "partition=short" in out
    script = (state / "submitted" / "4242.sh").read_text()
    assert "#SBATCH --partition=short\n" in script and "module load cuda/12.4\nmodule load python/3.11\n" in script

    polls, deadline = 0, time.time() + 180
    while time.time() < deadline:
        rows = repo.status(env=env)
        polls += 1
        if all(rows[n]["state"] != "running" for n in names):
            break
        time.sleep(0.5)
    assert {rows[n]["state"] for n in names} == {"done"}, rows
    for name, method in zip(names, ("alpha", "beta")):
        published = repo.results / method / f"mnist-dgc-{method}-split1-seed0-smoke" / "result.json"
        assert rows[name]["results"] == [str(published)]
        assert json.loads((repo.runs / "benchmark" / "plan" / "jobs" / f"{name}.json").read_text())[
            "slurm_array_job_id"] == "4242"
    assert len(_calls(state, "sacct")) <= polls, "more than one sacct call per status"

    text = repo.bench("status", env=env)
    assert text.returncode == 0, text.stderr
    lines = {n: next(line for line in text.stdout.splitlines() if n in line) for n in names}
    for line in lines.values():
        assert line.startswith("done ") and "100%|" in line and "ACSA " in line
    assert "plan plan: 2 done, 0 running, 0 failed, 0 missing" in text.stdout
    assert len(_calls(state, "sacct")) <= polls, "a plan whose runs are all published asks the cluster nothing"


def test_cancel_is_one_scancel_and_the_cancelled_runs_are_missing_until_run_again(repo, slurm):
    state, env = slurm
    ids, _ = _submit(repo, env)
    for job_id in ids.values():
        (state / f"state-{job_id}").write_text("RUNNING\n")
    p = repo.bench("cancel", env=env)
    assert p.returncode == 0, p.stderr
    assert _calls(state, "scancel") == [" ".join(sorted(ids.values()))], "one scancel call for the plan"
    st = repo.status(env=env)
    assert {row["state"] for row in st.values()} == {"missing"}
    assert all("cancelled" in row["detail"] for row in st.values())
    again, _ = _submit(repo, env)
    assert sorted(again) == sorted(ids), "a cancelled run goes out again"


def test_query_states_reads_pending_ranges_and_falls_back_to_squeue_once():
    calls = []

    def run(cmd, **kw):
        calls.append(cmd)
        if cmd[0] == "sacct":
            out = "JobID|State|NodeList\n7_0|COMPLETED|n1\n7_0.batch|COMPLETED|n1\n7_[1-3%2]|PENDING|None assigned\n"
        else:
            out = "8_0|RUNNING|n2\n"
        return subprocess.CompletedProcess(cmd, 0, out, "")

    states = cluster.query_states(["7_0", "7_2", "8_0", "9"], run=run)
    assert {k: v["State"] for k, v in states.items()} == {"7_0": "COMPLETED", "7_2": "PENDING", "8_0": "RUNNING"}
    assert [c[0] for c in calls] == ["sacct", "squeue"] and calls[0][-1] == "7,8,9" and calls[1][-1] == "8,9"
    assert states.answered

    def broken(cmd, **kw):
        return subprocess.CompletedProcess(cmd, 1, "", "slurm_load_jobs error: Unable to contact slurm controller")

    unknown = cluster.query_states(["7_0"], run=broken)
    assert unknown == {} and not unknown.answered and "Unable to contact" in unknown.problem


def test_the_shared_file_system_check(tmp_path):
    mountinfo = textwrap.dedent("""\
        22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw
        40 22 0:40 / /home rw,relatime - nfs4 server:/home rw
        41 22 0:41 / /lustre rw,relatime - lustre 10.0.0.1@tcp:/fs rw
        42 22 0:42 / /tmp rw - tmpfs tmpfs rw
        """)
    assert cluster.filesystem("/home/me/repo", mountinfo) == ("nfs4", "/home")
    assert cluster.shared_problem("/home/me/repo", mountinfo) is None
    assert cluster.shared_problem("/lustre/project/runs", mountinfo) is None
    assert "ext4 file system (mounted at /)" in cluster.shared_problem("/opt/envs", mountinfo)
    assert "under /tmp" in cluster.shared_problem("/tmp/x", mountinfo)
    lines = cluster.check_shared({"runs": "/home/me/runs", "results": "/opt/results"}, mountinfo)
    assert lines == ["results: /opt/results is on a ext4 file system (mounted at /), which is usually local to "
                     "this machine"]
