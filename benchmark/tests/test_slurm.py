"""The Slurm path without a cluster: fake ``sbatch``, ``srun``, ``sacct`` and ``squeue`` on PATH.

``sbatch`` keeps each script it is given and answers as Slurm does; ``sacct`` and ``squeue`` answer from files
the test writes; a submitted script is then run by the test as a compute node would run it (``srun`` just runs
its command), so submission, the sbatch text, job-id parsing, the job itself and status polling are all real.
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

from benchmark.jobs import alive

from .conftest import PACKAGE_ROOT

FAKES = {
    "sbatch": """\
        #!/usr/bin/env bash
        # sbatch <script>: keep the script, answer with a new job id
        id=$(cat "$FAKE_SLURM/next_id"); echo $((id + 1)) > "$FAKE_SLURM/next_id"
        cp "$1" "$FAKE_SLURM/submitted/$id.sh"
        echo "Submitted batch job $id"
        """,
    "sacct": """\
        #!/usr/bin/env bash
        # sacct -o JobID,State,NodeList --parsable2 -j ID...: the states the test wrote
        echo "$*" >> "$FAKE_SLURM/sacct_calls"
        echo "JobID|State|NodeList"
        while [ $# -gt 0 ]; do
          if [ "$1" = "-j" ] && [ -f "$FAKE_SLURM/state-$2" ]; then echo "$2|$(cat "$FAKE_SLURM/state-$2")|node1"; fi
          shift
        done
        """,
    "squeue": """\
        #!/usr/bin/env bash
        # squeue -h -j ID -o %T
        echo "$*" >> "$FAKE_SLURM/squeue_calls"
        [ -f "$FAKE_SLURM/squeue-$3" ] && cat "$FAKE_SLURM/squeue-$3"
        exit 0
        """,
    "srun": """\
        #!/usr/bin/env bash
        # srun --unbuffered --output OUT --error ERR command...: run the command on this "node"
        out=; err=
        while [ $# -gt 0 ]; do
          case "$1" in
            --unbuffered) shift ;;
            --output) out=${2//%j/$SLURM_JOB_ID}; out=${out//%t/0}; shift 2 ;;
            --error) err=${2//%j/$SLURM_JOB_ID}; err=${err//%t/0}; shift 2 ;;
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


def _node_env(env, job_id):
    """What Slurm sets for the job's task on its node (the runner's PYTHONPATH does not travel there)."""
    node = dict(env, SLURM_JOB_ID=job_id, SLURM_NTASKS="1", SLURM_PROCID="0", SLURM_LOCALID="0", SLURM_NODEID="0",
                SLURM_JOB_NUM_NODES="1", SLURM_JOB_NODELIST="node1")
    node.pop("PYTHONPATH")
    return node


def _submit(repo, env) -> dict[str, str]:
    p = repo.bench("run", "--cluster", "slurm", "--allow-dirty", env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    return dict(re.findall(r"^submit (\S+): slurm job (\d+)$", p.stdout, re.M))


def test_the_sbatch_script_of_a_job_names_its_resources_environment_and_command(repo, slurm):
    state, env = slurm
    ids = _submit(repo, env)
    assert len(ids) == 6 and sorted(ids.values()) == [str(i) for i in range(4242, 4248)], ids
    name = "alpha_np--alpha--mnist-dgc-split1-seed0-smoke"
    script = (state / "submitted" / f"{ids[name]}.sh").read_text()
    sub = repo.runs / "benchmark" / "plan" / "submitit"
    venv = repo.root / ".venvs" / "fake-0123"
    job = (f"cd {repo.root / 'alpha_np'} && OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 "
           f"NUMEXPR_NUM_THREADS=2 TF_NUM_INTRAOP_THREADS=2 TF_NUM_INTEROP_THREADS=2 {venv}/bin/python run.py "
           f"--dataset mnist --protocol dgc --split-seed 1 --seed 0 --budget smoke --out {repo.runs} "
           f"--data-root {repo.root / 'data'} --publish {repo.results} --no-progress --allow-dirty")
    expected = f"""\
#!/bin/bash

# Parameters
#SBATCH --cpus-per-task=2
#SBATCH --error={sub}/%j_0_log.err
#SBATCH --gpus-per-node=1
#SBATCH --job-name={name}
#SBATCH --mem=8G
#SBATCH --nodes=1
#SBATCH --open-mode=append
#SBATCH --output={sub}/%j_0_log.out
#SBATCH --partition=gpu
#SBATCH --signal=USR2@90
#SBATCH --time=90
#SBATCH --wckey=submitit

# setup
module load cuda/12.4
# job: {job}
source {venv}/bin/activate
export PYTHONPATH={PACKAGE_ROOT}${{PYTHONPATH:+:$PYTHONPATH}}

# command
export SUBMITIT_EXECUTOR=slurm
srun --unbuffered --output {sub}/%j_%t_log.out --error {sub}/%j_%t_log.err {shlex.quote(sys.executable)} -u -m submitit.core._submit {sub}
"""
    assert script == expected
    # beta has no slurm table of its own: the plan's time limit (30 min), not alpha's 90
    beta = (state / "submitted" / f"{ids['beta_np--beta--mnist-dgc-split1-seed0-smoke']}.sh").read_text()
    assert "#SBATCH --time=30\n" in beta and "#SBATCH --partition=gpu\n" in beta


def test_submission_job_ids_and_status_polling_through_sacct_and_squeue(repo, slurm):
    state, env = slurm
    ids = _submit(repo, env)
    done, failed, queued = ("alpha_np--alpha--mnist-dgc-split1-seed0-smoke",
                            "alpha_np--alpha--mnist-dgc-split2-seed0-smoke",
                            "beta_np--beta--mnist-dgc-split1-seed0-smoke")
    (state / f"state-{ids[done]}").write_text("PENDING\n")
    (state / f"squeue-{ids[queued]}").write_text("RUNNING\n")  # not (yet) in accounting: squeue knows it
    st = repo.status(env=env)
    assert st[done]["state"] == "running" and st[done]["detail"] == f"slurm job {ids[done]} PENDING"
    assert st[queued]["state"] == "running" and st[queued]["detail"] == f"slurm job {ids[queued]} RUNNING"
    assert f"-j {ids[done]}" in (state / "sacct_calls").read_text()
    assert f"-j {ids[queued]} -o %T" in (state / "squeue_calls").read_text()

    # the cluster starts the job: its script runs on a "node", where srun runs submitit's worker
    ran = subprocess.run(["bash", str(state / "submitted" / f"{ids[done]}.sh")], env=_node_env(env, ids[done]),
                         capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    (state / f"state-{ids[done]}").write_text("COMPLETED\n")
    (state / f"state-{ids[failed]}").write_text("FAILED\n")  # ended without running run.py to the end
    st = repo.status(env=env)
    assert st[done]["state"] == "done", st[done]
    assert st[done]["results"] == [str(repo.results / "alpha" / "mnist-dgc-alpha-split1-seed0-smoke" / "result.json")]
    assert st[failed]["state"] == "failed"
    assert st[failed]["detail"] == f"slurm job {ids[failed]} ended FAILED without a published result"

    # submitting again: the published run and the queued ones are left alone, the failed one goes again
    for name, job_id in ids.items():
        if name not in (done, failed, queued):
            (state / f"state-{job_id}").write_text("PENDING\n")
    again = _submit(repo, env)
    assert list(again) == [failed] and again[failed] == "4248"


def test_a_job_at_its_time_limit_stops_run_py_at_a_checkpoint_and_is_requeued_then_resumes(repo, slurm):
    """Slurm's USR2 (90 s before the limit) reaches the job's processes: run.py ignores it, submitit's worker stops
    run.py with SIGTERM, requeues the job (scontrol requeue) and exits; the requeued job resumes the run folder."""
    state, env = slurm
    ids = _submit(repo, env)
    name = "beta_np--beta--mnist-dgc-split2-seed0-smoke"
    job_id = ids[name]
    block = repo.control / "block-beta-mnist-dgc-beta-split2-seed0-smoke"
    block.touch()
    script = state / "submitted" / f"{job_id}.sh"
    node = subprocess.Popen(["bash", str(script)], env=_node_env(env, job_id), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    record_path = repo.runs / "benchmark" / "plan" / "jobs" / f"{name}.json"
    started = repo.runs / "beta" / "mnist-dgc-beta-split2-seed0-smoke" / "started"
    deadline = time.time() + 120
    while time.time() < deadline and not (started.exists() and json.loads(record_path.read_text()).get("child_pid")):
        time.sleep(0.1)
    record = json.loads(record_path.read_text())
    assert record["state"] == "running" and record["slurm_job_id"] == job_id
    os.kill(record["child_pid"], signal.SIGUSR2)
    time.sleep(0.5)
    assert alive(record["child_pid"], record["child_start"]), "run.py must not die of Slurm's warning signal"
    os.kill(record["pid"], signal.SIGUSR2)  # the worker: checkpoint (stop run.py) and requeue
    node.wait(timeout=120)
    assert not alive(record["child_pid"], record["child_start"])
    assert (state / "scontrol_calls").read_text().split() == ["requeue", job_id]
    assert json.loads(record_path.read_text())["state"] == "requeued"
    (state / f"state-{job_id}").write_text("REQUEUED\n")
    assert repo.status(env=env)[name]["detail"] == f"slurm job {job_id} REQUEUED"

    block.unlink()  # Slurm starts the requeued job: the same script, the same job id
    again = subprocess.run(["bash", str(script)], env=_node_env(env, job_id), capture_output=True, text=True,
                           timeout=120)
    assert again.returncode == 0, again.stderr
    (state / f"state-{job_id}").write_text("COMPLETED\n")
    assert repo.status(env=env)[name]["state"] == "done"
    calls = [c for c in repo.invocations() if c["run"] == "beta-mnist-dgc-beta-split2-seed0-smoke"]
    assert [c["resumed"] for c in calls] == [False, True], "the requeued job continued in its run folder"
