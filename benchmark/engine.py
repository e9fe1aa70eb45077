"""Run a plan's jobs with submitit: local processes (at most N at once) or Slurm jobs.

A job's life is recorded in files under ``<runs>/benchmark/<plan>/`` (``jobs/<name>.json``, the run.py logs in
``logs/``, submitit's own files in ``submitit/``), so any later process can say what happened:

- **done**: a valid, faithful ``result.json`` with the job's method, variant, dataset, protocol, split seed, seed
  and budget is published under ``<results>/<method>/``. Done jobs are never started again.
- **running**: its process is alive on this machine (local), or Slurm lists it as pending or running.
- **failed**: run.py exited with an error (or exited cleanly without publishing a matching result); the exit
  code, the end of its stderr and the exact command to re-run it are reported.
- **missing**: never started, or interrupted. Starting it again resumes it: every run.py reopens its run folder
  (same arguments, same folder) and continues from its last checkpoint.
"""
from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .jobs import STOP_GRACE_S, RunCommand, alive, read_state, tail, thread_env, utc_now, write_state
from .plan import Job, Plan
from .results import published

# Slurm states of a job that has not ended yet.
SLURM_ACTIVE = {"PENDING", "RUNNING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "CONFIGURING", "COMPLETING",
                "RESIZING", "SUSPENDED", "STAGE_OUT", "SIGNALING"}
PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # the folder holding the benchmark package
STATES = ("done", "running", "failed", "missing")
# Local jobs have no time limit of their own (a loaded machine runs them much slower than an idle one); submitit
# wants one, so it gets a month. A Slurm job without a `time` in the plan gets a day.
LOCAL_TIMEOUT_MIN = 30 * 24 * 60
SLURM_TIME_MIN = 24 * 60
# A local job counts as starting (not interrupted) this long after submission, before its worker reports a pid.
SUBMIT_GRACE_S = 60


class RunnerError(RuntimeError):
    pass


@dataclass
class Status:
    state: str  # one of STATES
    detail: str = ""
    results: list = field(default_factory=list)  # [(path, result)] when done
    record: dict = field(default_factory=dict)  # the job's state file


class Runner:
    def __init__(self, plan: Plan, *, repo: str | Path, runs: str | Path, data_root: str | Path,
                 results: str | Path, state_root: str | Path | None = None, allow_dirty: bool = False,
                 only: list[str] | None = None, log=print, poll_s: float = 1.0):
        self.plan = plan
        self.repo = Path(repo).resolve()
        self.runs, self.data_root, self.results = (Path(p).absolute() for p in (runs, data_root, results))
        self.state_root = Path(state_root).absolute() if state_root else self.runs / "benchmark" / plan.name
        self.allow_dirty = allow_dirty
        self.log = log
        self.poll_s = poll_s
        unknown = sorted(set(only or ()) - set(plan.folders))
        if unknown:
            raise RunnerError(f"--only {', '.join(unknown)}: not in plan {plan.name} ({', '.join(plan.folders)})")
        wanted = [f for f in plan.folders if not only or f in only]
        self.absent = [f for f in wanted if not (self.repo / f / "run.py").exists()]
        self.jobs = [j for j in plan.jobs if j.folder in wanted and j.folder not in self.absent]
        if not self.jobs:  # every folder asked for is missing: a misspelt name, or the wrong --repo
            raise RunnerError(f"plan {plan.name}: no method folder with a run.py in {self.repo}: "
                              f"{', '.join(self.absent)} (check the [methods.<folder>] names and --repo)")
        self._pythons: dict[str, Path] = {}

    # -- what a job runs ---------------------------------------------------------------------------------------

    def env_dir(self, folder: str) -> Path:
        """The folder's environment, as ``make`` finds it: ``environments/env.sh --path <folder>``."""
        if folder not in self._pythons:
            p = subprocess.run([str(self.repo / "environments" / "env.sh"), "--path", folder], cwd=self.repo,
                               capture_output=True, text=True)
            if p.returncode != 0:
                raise RunnerError(f"environments/env.sh --path {folder}: {p.stderr.strip()}")
            path = Path(p.stdout.strip())
            self._pythons[folder] = path if path.is_absolute() else self.repo / path
        return self._pythons[folder]

    def python(self, folder: str) -> Path:
        return self.env_dir(folder) / "bin" / "python"

    def command(self, job: Job) -> list[str]:
        """``<env>/bin/python run.py <the job's flags> --out RUNS --data-root DATA --publish RESULTS``, as
        ``make reproduce-*`` runs it (plus --no-progress: the output goes to a log file)."""
        cmd = [str(self.python(job.folder)), "run.py", *job.run_args(), "--out", str(self.runs),
               "--data-root", str(self.data_root), "--publish", str(self.results), "--no-progress"]
        return cmd + (["--allow-dirty"] if self.allow_dirty else [])

    def env(self, job: Job) -> dict[str, str]:
        return thread_env(job.threads)

    def rerun_line(self, job: Job) -> str:
        """The exact command, for a shell: what to paste to run (or resume) this one job by hand."""
        env = " ".join(f"{k}={v}" for k, v in self.env(job).items())
        return f"cd {shlex.quote(str(self.repo / job.folder))} && {env} {shlex.join(self.command(job))}"

    def paths(self, job: Job) -> tuple[Path, Path, Path]:
        return (self.state_root / "jobs" / f"{job.name}.json", self.state_root / "logs" / f"{job.name}.out",
                self.state_root / "logs" / f"{job.name}.err")

    def callable(self, job: Job) -> RunCommand:
        state, out, err = self.paths(job)
        return RunCommand(job.name, self.command(job), str(self.repo / job.folder), self.env(job), str(state),
                          str(out), str(err))

    # -- status ------------------------------------------------------------------------------------------------

    def index(self) -> dict:
        found, problems = published(self.results, {j.method for j in self.jobs})
        for p in problems:
            self.log(f"warning: not a valid result, ignored: {p}")
        return found

    def status(self, job: Job, index: dict) -> Status:
        if index.get(job.key):
            return Status("done", results=index[job.key], record=read_state(self.paths(job)[0]))
        record = read_state(self.paths(job)[0])
        state = record.get("state")
        if not state:
            return Status("missing", "never started", record=record)
        if state == "failed":
            return Status("failed", record.get("failure") or f"run.py exited {record.get('returncode')}",
                          record=record)
        if state == "finished":
            return Status("failed", f"run.py exited 0 but published no result with variant {job.variant!r} "
                                    f"under {self.results / job.method} (check the plan's variant name)",
                          record=record)
        if record.get("cluster") == "slurm":  # submitted, running, requeued or interrupted: ask the cluster
            return self._slurm_status(job, record)
        if state == "interrupted":
            return Status("missing", "interrupted (a new run resumes it)", record=record)
        # submitted or running here: is it still?
        if record.get("host") != socket.gethostname():
            return Status("running", f"on {record.get('host')} (not checked from here)", record=record)
        if alive(record.get("pid"), record.get("pid_start")) or \
                alive(record.get("child_pid"), record.get("child_start")):
            return Status("running", f"pid {record.get('child_pid') or record.get('pid')}", record=record)
        if state == "submitted" and time.time() - _seconds(record.get("submitted_utc")) < SUBMIT_GRACE_S:
            return Status("running", "starting", record=record)
        return Status("missing", "interrupted (its process is gone; a new run resumes it)", record=record)

    def _slurm_status(self, job: Job, record: dict) -> Status:
        job_id = record.get("slurm_job_id") or record.get("submitit_job_id")
        state = slurm_state(str(job_id), self.state_root / "submitit")
        if state in SLURM_ACTIVE or (state == "UNKNOWN" and record.get("state") == "submitted"):
            return Status("running", f"slurm job {job_id} {state}", record=record)
        if record.get("state") == "interrupted":
            return Status("missing", f"slurm job {job_id} interrupted ({state}; a new run resumes it)",
                          record=record)
        err = self.paths(job)[2]
        failure = f"slurm job {job_id} ended {state} without a published result"
        write_state(self.paths(job)[0], state="failed", failure=failure, ended_utc=utc_now(),
                    stderr_tail=tail(err) or _submitit_stderr(self.state_root / "submitit", str(job_id)),
                    returncode=record.get("returncode"), slurm_state=state)
        return Status("failed", failure, record=read_state(self.paths(job)[0]))

    def statuses(self) -> list[tuple[Job, Status]]:
        index = self.index()
        return [(job, self.status(job, index)) for job in self.jobs]

    def describe_failure(self, job: Job, status: Status) -> str:
        out, err = self.paths(job)[1:]
        lines = [f"FAILED {job.name}: {status.detail}"]
        stderr_tail = status.record.get("stderr_tail") or tail(err)
        if stderr_tail:
            lines += ["  stderr (last lines):"] + [f"    {line}" for line in stderr_tail.splitlines()]
        lines += [f"  logs: {out} {err}", f"  re-run: {self.rerun_line(job)}"]
        return "\n".join(lines)

    # -- local -------------------------------------------------------------------------------------------------

    def _check_environments(self, jobs: list[Job]) -> None:
        missing = sorted({j.folder for j in jobs if not self.python(j.folder).exists()})
        if missing:
            raise RunnerError("environment not built for " + ", ".join(missing) + ": run " +
                              " ".join(f"`make env-{f}`" for f in missing) + " (or `make envs`)")

    def run_local(self, max_jobs: int | None = None) -> dict[str, list[Job]]:
        """Run every job that is not done, at most ``max_jobs`` at once; wait for all of them."""
        import submitit

        index = self.index()
        outcome: dict[str, list[Job]] = {s: [] for s in STATES}
        pending, watched = [], []
        for job in self.jobs:
            st = self.status(job, index)
            if st.state == "done":
                outcome["done"].append(job)
                self.log(f"skip   {job.name}: published ({_relative(st.results[0][0], self.repo)})")
            elif st.state == "running":
                watched.append(job)
                self.log(f"wait   {job.name}: already running ({st.detail})")
            else:
                pending.append(job)
        self._check_environments(pending)
        threads = max((j.threads for j in pending), default=1)
        max_jobs = max_jobs or max(1, (os.cpu_count() or 1) // threads)
        self.log(f"plan {self.plan.name}: {len(self.jobs)} runs; {len(outcome['done'])} published, "
                 f"{len(watched)} running elsewhere, {len(pending)} to run, at most {max_jobs} at once")
        executor = submitit.LocalExecutor(folder=self.state_root / "submitit")
        active: dict[str, tuple[Job, object, float]] = {}
        # Ctrl-C or SIGTERM only sets a flag, seen once per loop: a job is never half-submitted (started, but
        # unknown to the loop) when the runs are stopped.
        stop: list[int] = []
        previous = {sig: signal.signal(sig, lambda signum, frame: stop.append(signum))
                    for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            while (pending or active or watched) and not stop:
                for name, (job, sjob, started) in list(active.items()):
                    if sjob.done():
                        del active[name]
                        self._finish(job, sjob, started, outcome)
                for job in list(watched):
                    st = self.status(job, self.index())
                    if st.state != "running":
                        watched.remove(job)
                        if st.state == "missing":
                            pending.insert(0, job)
                        else:
                            self._report(job, st, outcome, None)
                while pending and len(active) + len(watched) < max_jobs and not stop:
                    job = pending.pop(0)
                    state, out, err = self.paths(job)
                    # written before the worker starts, which then adds its own pids and outcome
                    self._submitted(job, cluster="local", host=socket.gethostname())
                    executor.update_parameters(timeout_min=LOCAL_TIMEOUT_MIN)
                    sjob = executor.submit(self.callable(job))
                    active[job.name] = (job, sjob, time.time())
                    self.log(f"start  {job.name} (logs: {_relative(err, self.repo)})")
                if not stop:
                    time.sleep(self.poll_s if (active or watched) else 0)
            if stop:
                self._interrupt(active)
                raise KeyboardInterrupt(f"signal {stop[0]}")
        except KeyboardInterrupt:
            if not stop:  # raised elsewhere (a handler of another library): the same stop
                self._interrupt(active)
            raise
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return outcome

    def _submitted(self, job: Job, cluster: str, host: str | None) -> None:
        write_state(self.paths(job)[0], state="submitted", cluster=cluster, host=host, submitted_utc=utc_now(),
                    pid=None, child_pid=None, submitit_job_id=None, slurm_job_id=None, returncode=None,
                    failure=None, stderr_tail="", command=self.command(job), cwd=str(self.repo / job.folder), env=self.env(job))

    def _finish(self, job: Job, sjob, started: float, outcome: dict) -> None:
        try:
            sjob.result()
        except Exception as exc:  # the worker itself failed (no python, a crash): keep its own message
            state = read_state(self.paths(job)[0])
            if state.get("state") not in ("failed", "finished"):
                write_state(self.paths(job)[0], state="failed", returncode=None, ended_utc=utc_now(),
                            stderr_tail=tail(self.paths(job)[2]) or str(exc)[-2000:])
        self._report(job, self.status(job, self.index()), outcome, time.time() - started)

    def _report(self, job: Job, st: Status, outcome: dict, seconds: float | None) -> None:
        outcome.setdefault(st.state, []).append(job)
        took = f" in {seconds:.0f} s" if seconds is not None else ""
        if st.state == "done":
            m = st.results[0][1]["metrics"]
            self.log(f"done   {job.name}{took}: ACSA {m['acsa']:.4f}, GM {m['gm_gamo']:.4f}, "
                     f"Gmacro {m['gmacro_dgc']:.4f}")
        elif st.state == "failed":
            self.log(self.describe_failure(job, st))
        else:
            self.log(f"{st.state:6s} {job.name}: {st.detail}")

    def _interrupt(self, active: dict) -> None:
        """Ctrl-C or SIGTERM: stop every run this runner started, then say what became of them.

        Each run.py gets SIGTERM (what every run.py turns into "checkpoint and exit"), also one whose worker is
        only now starting it; one still running after STOP_GRACE_S is killed. Once run.py has ended, submitit's
        worker and controller end by themselves. Only then is the job recorded as interrupted (a new run resumes
        it), and the line printed says how many runs stopped, were killed, or could not be stopped."""
        jobs = {name: (job, sjob) for name, (job, sjob, _) in active.items()}
        signalled: dict[str, tuple[int, str | None]] = {}
        killed: set[str] = set()
        deadline = time.time() + STOP_GRACE_S
        while jobs:
            for name, (job, sjob) in list(jobs.items()):
                record = read_state(self.paths(job)[0])
                child = (record.get("child_pid"), record.get("child_start"))
                if alive(*child) and signalled.get(name) != child:
                    _signal(child[0], signal.SIGTERM)
                    signalled[name] = child
                elif alive(*child) and time.time() > deadline:
                    _signal(child[0], signal.SIGKILL)
                    killed.add(name)
                elif not alive(*child) and sjob.done():
                    del jobs[name]
            if time.time() > deadline + 10:  # run.py is gone, yet submitit's processes stay: end them too
                for job, sjob in jobs.values():
                    sjob.cancel()
                break
            time.sleep(0.1)
        still, finished = [], 0
        for job, _, _ in active.values():
            record = read_state(self.paths(job)[0])
            if alive(record.get("child_pid"), record.get("child_start")):
                still.append(job.name)
            elif record.get("state") == "finished":  # it ended on its own before the signal reached it
                finished += 1
            else:  # the worker saw run.py exit on the signal: not a failure
                write_state(self.paths(job)[0], state="interrupted", ended_utc=utc_now(),
                            stderr_tail=tail(self.paths(job)[2]))
        line = f"interrupted: {len(active) - len(still) - finished} run(s) stopped"
        if killed:
            line += f" ({len(killed)} killed after {STOP_GRACE_S} s without stopping)"
        if finished:
            line += f", {finished} finished meanwhile"
        if still:
            line += f"; still running, could not be stopped: {', '.join(still)}"
        self.log(line + "; run the same command again to resume them from their last checkpoint (published runs "
                        "are skipped)")

    # -- slurm -------------------------------------------------------------------------------------------------

    def slurm_parameters(self, job: Job) -> dict:
        """submitit SlurmExecutor parameters: the plan's sbatch options, the job's name, its time limit, and a
        setup that activates the method's environment and names the exact run.py command."""
        params = dict(job.slurm)
        setup = list(params.pop("setup", []))
        env_dir = self.env_dir(job.folder)
        setup += [f"# job: {self.rerun_line(job)}",
                  f"source {shlex.quote(str(env_dir / 'bin' / 'activate'))}",
                  f"export PYTHONPATH={shlex.quote(str(PACKAGE_ROOT))}${{PYTHONPATH:+:$PYTHONPATH}}"]
        params.setdefault("time", SLURM_TIME_MIN)
        params.setdefault("cpus_per_task", job.threads)
        return dict(params, job_name=job.name, setup=setup)

    def submit_slurm(self, python: str | None = None) -> dict[str, list[Job]]:
        """Submit every job that is neither done nor pending/running on the cluster; return at once."""
        import submitit

        index = self.index()
        outcome: dict[str, list[Job]] = {s: [] for s in STATES}
        todo = []
        for job in self.jobs:
            st = self.status(job, index)
            if st.state in ("done", "running"):
                outcome[st.state].append(job)
                self.log(f"skip   {job.name}: {'published' if st.state == 'done' else st.detail}")
            else:
                todo.append(job)
        self._check_environments(todo)
        missing = [tool for tool in ("sbatch", "srun") if todo and shutil.which(tool) is None]
        if missing:
            raise RunnerError(f"--cluster slurm: {' and '.join(missing)} not on PATH (run on a Slurm login node, or "
                              f"use --cluster local)")
        executor = submitit.SlurmExecutor(folder=self.state_root / "submitit",
                                          python=python or shlex.quote(sys.executable))
        for job in todo:
            executor.update_parameters(**self.slurm_parameters(job))
            self._submitted(job, cluster="slurm", host=None)
            sjob = executor.submit(self.callable(job))
            write_state(self.paths(job)[0], submitit_job_id=sjob.job_id)
            outcome["running"].append(job)
            self.log(f"submit {job.name}: slurm job {sjob.job_id}")
        return outcome

    def wait_slurm(self, poll_s: float = 60.0) -> dict[str, list[Job]]:
        """Poll the cluster until no job of the plan is pending or running; report each job as it ends."""
        reported: set[str] = set()
        while True:
            statuses = self.statuses()
            for job, st in statuses:
                if st.state != "running" and job.name not in reported and st.record.get("cluster") == "slurm":
                    reported.add(job.name)
                    self._report(job, st, {}, None)
            if not any(st.state == "running" for _, st in statuses):
                out: dict[str, list[Job]] = {s: [] for s in STATES}
                for job, st in statuses:
                    out[st.state].append(job)
                return out
            time.sleep(poll_s)


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:  # it has just ended
        pass


def slurm_state(job_id: str, folder: Path) -> str:
    """A Slurm job's state from ``sacct`` (through submitit), or from ``squeue`` where accounting has no record."""
    import submitit

    try:
        info = submitit.SlurmJob(folder=folder, job_id=job_id).get_info(mode="force")
    except Exception:  # noqa: BLE001  (no sacct on this machine: fall through to squeue)
        info = {}
    state = (info.get("State") or "").split(" ")[0]
    if state and state != "UNKNOWN":
        return state
    try:
        q = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return "UNKNOWN"
    return (q.stdout.split() or ["UNKNOWN"])[0] if q.returncode == 0 else "UNKNOWN"


def _submitit_stderr(folder: Path, job_id: str) -> str:
    return tail(Path(folder) / f"{job_id}_0_log.err")


def _seconds(utc: str | None) -> float:
    import datetime as dt

    if not utc:
        return 0.0
    return dt.datetime.strptime(utc, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc).timestamp()


def _relative(path, root: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(root))
    except ValueError:
        return str(path)
