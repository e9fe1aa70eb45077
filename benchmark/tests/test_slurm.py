"""The Slurm path without a cluster: fake ``sbatch``, ``srun``, ``sacct`` and ``squeue`` on PATH.

``sbatch`` keeps each script it is given and answers as Slurm does; ``sacct`` and ``squeue`` answer from files
the test writes; a submitted script is then run by the test as a compute node would run it (``srun`` just runs
its command), so submission, the sbatch text, job-id parsing, the job itself and status polling are all real.
"""
import os
import re
import shlex
import subprocess
import sys
import textwrap

import pytest

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
    node_env = dict(env, SLURM_JOB_ID=ids[done], SLURM_NTASKS="1", SLURM_PROCID="0", SLURM_LOCALID="0",
                    SLURM_NODEID="0", SLURM_JOB_NUM_NODES="1", SLURM_JOB_NODELIST="node1")
    node_env.pop("PYTHONPATH")  # the script itself must make the runner's package importable
    ran = subprocess.run(["bash", str(state / "submitted" / f"{ids[done]}.sh")], env=node_env,
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
