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

Where a run stands inside its training comes from its run folder's ``run_progress.json`` (written by
``shared_data.records.RunDir`` as the run logs; see ``shared_data.progress``): ``status`` draws it as a bar.
"""
from __future__ import annotations

import json
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

from shared_data import progress as run_progress
from shared_data import records

from . import cluster
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
# `benchmark run` flags that override the plan's sbatch options (submitit's names).
SLURM_OVERRIDES = ("partition", "account", "gpus_per_node", "cpus_per_task", "mem", "time", "array_parallelism")
# A running job whose progress file has not changed for this long is said to be quiet.
QUIET_S = 30 * 60
BAR_WIDTH = 20


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
                 only: list[str] | None = None, log=print, poll_s: float = 1.0, slurm: dict | None = None):
        self.plan = plan
        # sbatch options given on the command line: they override the plan's, for every job; ``setup`` adds lines
        self.slurm_overrides = {k: v for k, v in (slurm or {}).items() if v not in (None, [], ())}
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

    def run_dir(self, job: Job) -> Path:
        """The job's run folder, as every run.py names it (``records.run_name`` of its cell and variant)."""
        return self.runs / job.method / records.run_name(job.dataset, job.protocol, job.split_seed, job.seed,
                                                         job.budget, variant=job.variant)

    def progress(self, job: Job) -> dict | None:
        return run_progress.read(self.run_dir(job))

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

    def status(self, job: Job, index: dict, slurm_states: dict | None = None) -> Status:
        """The job's state. ``slurm_states`` (from :meth:`poll_slurm`) saves a cluster query per job; without it
        a Slurm job is looked up on its own."""
        if index.get(job.key):
            return Status("done", results=index[job.key], record=read_state(self.paths(job)[0]))
        record = read_state(self.paths(job)[0])
        state = record.get("state")
        if not state:
            return Status("missing", "never started", record=record)
        if record.get("cancelled_utc") and state in ("failed", "finished", "interrupted"):
            return Status("missing", f"slurm job {_slurm_id(record)} cancelled (a new run resumes it)", record=record)
        if state == "failed":
            return Status("failed", record.get("failure") or f"run.py exited {record.get('returncode')}",
                          record=record)
        if state == "finished":
            return Status("failed", f"run.py exited 0 but published no result with variant {job.variant!r} "
                                    f"under {self.results / job.method} (check the plan's variant name)",
                          record=record)
        if record.get("cluster") == "slurm":  # submitted, running, requeued or interrupted: ask the cluster
            if slurm_states is None:
                slurm_states = cluster.query_states([_slurm_id(record)])
            return self._slurm_status(job, record, slurm_states)
        if state == "interrupted":
            return Status("missing", "interrupted (a new run resumes it)", record=record)
        # submitted or running here: is it still?
        if record.get("host") != socket.gethostname():
            return Status("running", f"on {record.get('host')} (not checked from here)", record=record)
        if alive(record.get("pid"), record.get("pid_start")) or \
                alive(record.get("child_pid"), record.get("child_start")):
            return Status("running", f"pid {record.get('child_pid') or record.get('pid')} on {record.get('host')}",
                          record=record)
        if state == "submitted" and time.time() - _seconds(record.get("submitted_utc")) < SUBMIT_GRACE_S:
            return Status("running", "starting", record=record)
        return Status("missing", "interrupted (its process is gone; a new run resumes it)", record=record)

    def _slurm_status(self, job: Job, record: dict, slurm_states: dict) -> Status:
        job_id = _slurm_id(record)
        info = slurm_states.get(str(job_id)) or {}
        state = info.get("State") or "UNKNOWN"
        if record.get("cancelled_utc"):
            if state in SLURM_ACTIVE:
                return Status("running", f"slurm job {job_id} {state}, cancelled (ending)", record=record)
            return Status("missing", f"slurm job {job_id} cancelled ({state}; a new run resumes it)", record=record)
        if not job_id and record.get("state") == "submitted":
            return Status("missing", "its submission did not reach Slurm (a new run submits it)", record=record)
        if state in SLURM_ACTIVE or (state == "UNKNOWN" and record.get("state") == "submitted"):
            node = info.get("NodeList") or ""
            node = f" on {node}" if node and node not in ("None assigned", "(null)") else ""
            return Status("running", f"slurm job {job_id} {state}{node}", record=record)
        if state == "UNKNOWN" and not getattr(slurm_states, "answered", True):  # no answer is not an end
            return Status("running", f"slurm job {job_id}: state unknown ({slurm_states.problem})", record=record)
        if record.get("state") == "interrupted":
            return Status("missing", f"slurm job {job_id} interrupted ({state}; a new run resumes it)",
                          record=record)
        err = self.paths(job)[2]
        failure = f"slurm job {job_id} ended {state} without a published result"
        write_state(self.paths(job)[0], state="failed", failure=failure, ended_utc=utc_now(),
                    stderr_tail=tail(err) or _submitit_stderr(self.state_root / "submitit", str(job_id)),
                    returncode=record.get("returncode"), slurm_state=state)
        return Status("failed", failure, record=read_state(self.paths(job)[0]))

    def poll_slurm(self, jobs: list[Job] | None = None, index: dict | None = None) -> dict:
        """The cluster's state of every Slurm job of the plan that is not done: ONE ``sacct`` call for all of
        them (and one ``squeue`` call for those accounting does not list yet)."""
        index = self.index() if index is None else index
        ids = []
        for job in jobs or self.jobs:
            if index.get(job.key):
                continue
            record = read_state(self.paths(job)[0])
            if record.get("cluster") == "slurm" and record.get("state") not in ("failed", "finished") \
                    and _slurm_id(record):
                ids.append(_slurm_id(record))
        return cluster.query_states(ids)

    def statuses(self) -> list[tuple[Job, Status]]:
        index = self.index()
        slurm_states = self.poll_slurm(index=index)
        return [(job, self.status(job, index, slurm_states)) for job in self.jobs]

    def status_line(self, job: Job, st: Status, width: int = 0, now: float | None = None) -> str:
        """One line: the state, the run, a bar from its progress file, where it runs and its last metric."""
        now = time.time() if now is None else now
        prog = self.progress(job)
        if st.state == "done":
            m = st.results[0][1]["metrics"]
            meter = progress_meter(prog, now, full=True)
            detail = f"ACSA {m['acsa']:.4f} ({len(st.results)} published)"
        else:
            meter = progress_meter(prog, now, live=st.state == "running")
            detail = st.detail
            if prog and st.state == "running":
                age = now - float(prog.get("updated_unix") or now)
                if prog.get("stage"):
                    detail = f"stage {prog['stage']}; {detail}"
                if age > QUIET_S:
                    detail += f"; progress file unchanged for {run_progress.eta_text(age)}"
            elif prog and st.state == "missing" and prog.get("done") is not None:
                detail += f"; had reached {prog['unit']} {prog['done']}"
        return f"{st.state:8s} {job.name:<{width}}  {meter}  {detail}".rstrip()

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
                    pid=None, child_pid=None, submitit_job_id=None, slurm_job_id=None, slurm_array=None,
                    cancelled_utc=None, returncode=None, failure=None, stderr_tail="", command=self.command(job),
                    cwd=str(self.repo / job.folder), env=self.env(job))

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

    def slurm_options(self, job: Job) -> dict:
        """The job's sbatch options (submitit's names): the plan's (the method's table merged over the top level),
        then the command line's, which override them; the command line's ``setup`` lines come after the plan's."""
        params = dict(job.slurm)
        over = dict(self.slurm_overrides)
        setup = list(params.pop("setup", [])) + list(over.pop("setup", []))
        params.update(over)
        if params.get("gpus_per_node") == 0:  # --gpus-per-node 0: no GPU request at all (a CPU partition)
            del params["gpus_per_node"]
        params.setdefault("time", SLURM_TIME_MIN)
        params.setdefault("cpus_per_task", job.threads)
        return dict(params, setup=setup)

    def slurm_arrays(self, jobs: list[Job]) -> list[list[Job]]:
        """The job arrays ``jobs`` go out as: one per environment and set of sbatch options, in plan order (a
        Slurm array shares one script and one set of resources)."""
        groups: dict[tuple, list[Job]] = {}
        for job in jobs:
            key = (str(self.env_dir(job.folder)), json.dumps(self.slurm_options(job), sort_keys=True, default=str))
            groups.setdefault(key, []).append(job)
        return list(groups.values())

    def slurm_parameters(self, jobs: Job | list[Job]) -> dict:
        """submitit SlurmExecutor parameters of one array (or of one job): its sbatch options, its name, and a setup
        that runs the plan's setup lines, names the run.py command of each task and activates the environment
        of the method(s) it runs."""
        jobs = [jobs] if isinstance(jobs, Job) else list(jobs)
        params = self.slurm_options(jobs[0])
        setup = params.pop("setup")
        if len(jobs) == 1:
            setup.append(f"# job: {self.rerun_line(jobs[0])}")
            name = jobs[0].name
        else:
            setup += [f"# task {i}: {self.rerun_line(job)}" for i, job in enumerate(jobs)]
            name = f"{self.plan.name}--{'+'.join(dict.fromkeys(j.folder for j in jobs))}"
        env_dir = self.env_dir(jobs[0].folder)
        setup += [f"source {shlex.quote(str(env_dir / 'bin' / 'activate'))}",
                  f"export PYTHONPATH={shlex.quote(str(PACKAGE_ROOT))}${{PYTHONPATH:+:$PYTHONPATH}}"]
        return dict(params, job_name=name, setup=setup)

    def check_shared(self, jobs: list[Job]) -> list[str]:
        """Warn about every folder the compute nodes probably do not see (see :func:`cluster.shared_problem`);
        say so in one line when all look shared."""
        paths = {"checkout": self.repo, "benchmark environment": Path(sys.prefix), "data": self.data_root,
                 "runs": self.runs, "results": self.results, "runner state": self.state_root}
        for folder in dict.fromkeys(j.folder for j in jobs):
            paths[f"environment of {folder}"] = self.env_dir(folder)
        problems = cluster.check_shared(paths)
        if problems:
            self.log("warning: the compute nodes must see the checkout, the environments, the data, runs and "
                     "results folders on a shared file system (NFS, Lustre, GPFS, BeeGFS, ...); these look local "
                     "to this machine (a job that cannot see them fails on its node):")
            for line in problems:
                self.log(f"  {line}")
        else:
            self.log("shared file system: the checkout, environments, data, runs and results are on network file "
                     "systems")
        return problems

    def submit_slurm(self, python: str | None = None) -> dict[str, list[Job]]:
        """Submit every job that is neither done nor pending/running on the cluster, as job arrays; return at
        once."""
        import submitit

        index = self.index()
        slurm_states = self.poll_slurm(index=index)
        outcome: dict[str, list[Job]] = {s: [] for s in STATES}
        todo = []
        for job in self.jobs:
            st = self.status(job, index, slurm_states)
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
        if not todo:
            return outcome
        self.check_shared(todo)
        executor = submitit.SlurmExecutor(folder=self.state_root / "submitit",
                                          python=python or shlex.quote(sys.executable))
        for group in self.slurm_arrays(todo):
            params = self.slurm_parameters(group)
            executor.update_parameters(**params)
            sjobs = []
            try:
                with executor.batch():
                    for job in group:
                        self._submitted(job, cluster="slurm", host=None)
                        sjobs.append(executor.submit(self.callable(job)))
            except Exception as exc:  # noqa: BLE001  (sbatch refused it: say why, go on with the other arrays)
                message = " ".join(str(exc).split())[:600] or exc.__class__.__name__
                for job in group:
                    write_state(self.paths(job)[0], state="failed", failure=f"sbatch refused it: {message}",
                                ended_utc=utc_now())
                    outcome["failed"].append(job)
                self.log(f"FAILED to submit {len(group)} run(s) ({', '.join(j.name for j in group)}): {message}")
                continue
            for job, sjob in zip(group, sjobs):
                write_state(self.paths(job)[0], submitit_job_id=sjob.job_id,
                            slurm_array=cluster.main_id(sjob.job_id) if len(group) > 1 else None)
                outcome["running"].append(job)
                self.log(f"submit {job.name}: slurm job {sjob.job_id}")
            what = "job" if len(group) == 1 else f"array of {len(group)} runs"
            options = ", ".join(f"{k}={v}" for k, v in sorted(params.items()) if k not in ("setup", "job_name"))
            self.log(f"slurm {what} {cluster.main_id(sjobs[0].job_id)} ({params['job_name']}): {options}")
        return outcome

    def wait_slurm(self, poll_s: float = 60.0) -> dict[str, list[Job]]:
        """Poll the cluster (one sacct call each time) until no job of the plan is pending or running; report each
        job as it ends."""
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

    def cancel_slurm(self) -> list[Job]:
        """``scancel`` (one call) every Slurm job of the plan that is pending or running; a later ``run`` resumes
        them from their last checkpoint."""
        index = self.index()
        slurm_states = self.poll_slurm(index=index)
        active = [(job, st) for job, st in ((j, self.status(j, index, slurm_states)) for j in self.jobs)
                  if st.state == "running" and st.record.get("cluster") == "slurm" and _slurm_id(st.record)]
        if not active:
            self.log(f"plan {self.plan.name}: no Slurm job of it is pending or running")
            return []
        ids = sorted({_slurm_id(st.record) for _, st in active})
        p = cluster.cancel(ids)
        if p.returncode != 0:
            raise RunnerError(f"scancel {' '.join(ids)}: {(p.stderr or p.stdout).strip()}")
        for job, _ in active:
            write_state(self.paths(job)[0], cancelled_utc=utc_now())
        self.log(f"cancelled {len(active)} run(s): scancel {' '.join(ids)}; `run` again resumes them")
        return [job for job, _ in active]


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:  # it has just ended
        pass


def _slurm_id(record: dict) -> str | None:
    """The Slurm id of a job's record: submitit's (``4242_3`` for task 3 of array 4242), else the node's."""
    job_id = record.get("submitit_job_id") or record.get("slurm_job_id")
    return str(job_id) if job_id else None


def progress_meter(prog: dict | None, now: float, full: bool = False, live: bool = True) -> str:
    """A run's progress file as one fixed-width bar (tqdm's), its count, ETA and last metric: ``37%|███▍ | 37/100
    epochs, ETA 01:46, acsa 0.7012 (test)``. ``full``: a published run (the bar full); ``live``: the run is
    training now (else the bar alone, where it stopped)."""
    from tqdm import tqdm

    bar = f"{{percentage:3.0f}}%|{{bar:{BAR_WIDTH}}}| {{n_fmt}}/{{total_fmt}}"
    blank = "    |" + " " * BAR_WIDTH + "|"
    if not prog or prog.get("done") is None:
        return tqdm.format_meter(1, 1, 0, bar_format=bar.split("| ")[0] + "|") if full else \
            blank + " no progress file yet"
    unit = f"{prog.get('unit') or 'step'}s"
    done, total = int(prog["done"]), prog.get("total")
    if full:  # published: the bar is full whatever the file last said
        text = tqdm.format_meter(1, 1, 0, bar_format=bar.split("| ")[0] + "|") + \
            (f" {total}/{total} {unit}" if total else f" {done} {unit}")
    elif total:
        text = tqdm.format_meter(min(done, total), total, 0, bar_format=bar) + f" {unit}"
    else:
        text = f"{blank} {done} {unit}"
    parts = [text]
    if live and not full and prog.get("state") == "running":
        eta = prog.get("eta_s")
        if isinstance(eta, (int, float)):
            age = max(0.0, now - float(prog.get("updated_unix") or now))
            parts.append(f"ETA {run_progress.eta_text(max(0.0, eta - age))}")
        metric, train = prog.get("metric"), prog.get("train")
        if metric:
            parts.append(f"{metric['name']} {metric['value']:.4f} ({metric.get('split') or 'eval'})")
        elif train:
            parts.append(f"{train['name']} {train['value']:.4g}")
    return ", ".join(parts)


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
