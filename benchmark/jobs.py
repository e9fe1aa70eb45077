"""What submitit runs for a job, and the job's state file.

submitit pickles :class:`RunCommand` and calls it in a worker process (a local process, or a Slurm allocation).
It only starts ``run.py`` as a subprocess, with the thread settings of the plan, sends its output to the job's
log files and keeps ``<state>/jobs/<name>.json`` up to date, so that ``status`` can tell done, running, failed
and missing runs apart from files alone, in a later process or on another machine. This module imports no
method and nothing heavy: the worker starts quickly.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from shared_data import records
from submitit.helpers import Checkpointable, DelayedSubmission

# How long run.py gets to write its checkpoint after SIGTERM (the Slurm signal comes 90 s before the kill).
STOP_GRACE_S = 60
TAIL_LINES = 25
TAIL_CHARS = 3000


def thread_env(threads: int) -> dict[str, str]:
    """Every thread-pool setting the frameworks read, so that N jobs of T threads use N x T cores."""
    n = str(threads)
    return {"OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n, "NUMEXPR_NUM_THREADS": n,
            "TF_NUM_INTRAOP_THREADS": n, "TF_NUM_INTEROP_THREADS": n}


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_state(path: str | os.PathLike) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}


def write_state(path: str | os.PathLike, **fields) -> dict:
    """Merge ``fields`` into a job's state file (atomically: a reader never sees half a file). The runner and the
    job's worker may both write it at once (a Slurm task that starts as the runner records its id): the merge
    holds an advisory lock, given up after LOCK_WAIT_S (it may run inside a signal handler, which must never
    wait on its own process's lock)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path):
        state = dict(read_state(path), **fields)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(state, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, path)
    return state


LOCK_WAIT_S = 2.0


@contextlib.contextmanager
def _locked(path: Path):
    try:
        fd = os.open(path.parent / f".{path.name}.lock", os.O_CREAT | os.O_RDWR, 0o644)
    except OSError:
        yield
        return
    try:
        deadline = time.time() + LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.time() > deadline:
                    break  # a lock that is not let go (or a file system without locks): merge without it
                time.sleep(0.02)
        yield
    finally:
        os.close(fd)


process_start = records.process_start  # a live process's start time: with its pid, it names one process


def alive(pid: int | None, start: str | None) -> bool:
    if not pid:
        return False
    if Path("/proc/self/stat").exists():
        now = process_start(pid)
        return now is not None and (start is None or now == start)
    return records.pid_alive(pid)  # no /proc (not Linux): ask the kernel whether the pid exists


def tail(path: str | os.PathLike, lines: int = TAIL_LINES, chars: int = TAIL_CHARS) -> str:
    """The end of a log: its last lines, carriage-return progress lines reduced to their final state."""
    try:
        data = Path(path).read_bytes()[-50 * chars:].decode(errors="replace")
    except OSError:
        return ""
    text = "\n".join(line.rsplit("\r", 1)[-1] for line in data.splitlines())
    return "\n".join(text.strip("\n").splitlines()[-lines:])[-chars:]


def _ignore_usr2() -> None:
    """In run.py's process: Slurm's early-warning signal (USR2, 90 s before the time limit) reaches every process
    of the job; only submitit's worker acts on it, by stopping run.py with SIGTERM at a checkpoint."""
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)


class RunCommand(Checkpointable):
    """Run one command line in a folder, as a submitit job; return its exit code and the end of its stderr.

    On Slurm, a job that reaches its time limit (or is pre-empted) gets a signal first: the command is stopped
    with SIGTERM, which every run.py turns into "checkpoint and exit", and submitit requeues this same callable,
    whose run.py then resumes from that checkpoint.
    """

    def __init__(self, name: str, command: list[str], cwd: str, env: dict[str, str], state_path: str,
                 stdout_path: str, stderr_path: str):
        self.name = name
        self.command = list(command)
        self.cwd = str(cwd)
        self.env = dict(env)
        self.state_path = str(state_path)
        self.stdout_path = str(stdout_path)
        self.stderr_path = str(stderr_path)
        self._process = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_process"] = None  # a process handle does not travel to another machine
        return state

    def __call__(self) -> dict:
        Path(self.stdout_path).parent.mkdir(parents=True, exist_ok=True)
        attempt = read_state(self.state_path).get("attempts", 0) + 1
        write_state(self.state_path, state="running", host=socket.gethostname(), pid=os.getpid(),
                    pid_start=process_start(os.getpid()), started_utc=utc_now(), ended_utc=None, returncode=None,
                    stderr_tail="", attempts=attempt, slurm_job_id=os.environ.get("SLURM_JOB_ID"),
                    slurm_array_job_id=os.environ.get("SLURM_ARRAY_JOB_ID"),
                    slurm_array_task_id=os.environ.get("SLURM_ARRAY_TASK_ID"))
        env = dict(os.environ, **self.env)
        # the runner's package is on PYTHONPATH for this worker only: run.py sees its own environment's paths
        own = str(Path(__file__).resolve().parents[1])
        kept = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != own]
        if kept:
            env["PYTHONPATH"] = os.pathsep.join(kept)
        else:
            env.pop("PYTHONPATH", None)
        with open(self.stdout_path, "w") as out, open(self.stderr_path, "w") as err:
            try:
                self._process = subprocess.Popen(self.command, cwd=self.cwd, env=env, stdout=out, stderr=err,
                                                 preexec_fn=_ignore_usr2)
            except OSError as exc:  # no such python or folder: a failed job, said in one line
                message = f"cannot start {self.command[0]} in {self.cwd}: {exc.strerror or exc}"
                write_state(self.state_path, state="failed", returncode=127, ended_utc=utc_now(),
                            stderr_tail=message)
                return {"returncode": 127, "stderr_tail": message}
            try:  # from here on an interruption stops run.py too: it never runs on without its worker
                write_state(self.state_path, child_pid=self._process.pid,
                            child_start=process_start(self._process.pid))
                returncode = self._process.wait()
            except BaseException:  # interrupted (Ctrl-C, a cancelled job, a requeue): let run.py checkpoint first
                self._stop()
                if read_state(self.state_path).get("state") != "requeued":
                    write_state(self.state_path, state="interrupted", ended_utc=utc_now(),
                                returncode=self._process.returncode, stderr_tail=tail(self.stderr_path))
                raise
        stderr_tail = tail(self.stderr_path)
        write_state(self.state_path, state="finished" if returncode == 0 else "failed", returncode=returncode,
                    ended_utc=utc_now(), stderr_tail=stderr_tail)
        return {"returncode": returncode, "stderr_tail": stderr_tail}

    def _stop(self) -> None:
        """SIGTERM to run.py, then wait until it has exited (SIGKILL after STOP_GRACE_S). This may run inside a
        signal handler that interrupted ``Popen.wait``, whose lock is then held: so it watches the process
        itself (an exited child is a zombie) instead of calling ``wait`` again; the caller reaps it."""
        p = self._process
        if p is None or p.returncode is not None:
            return
        start = process_start(p.pid)
        if start is None:  # exited already
            return
        p.send_signal(signal.SIGTERM)
        deadline = time.time() + STOP_GRACE_S
        while time.time() < deadline and alive(p.pid, start):
            time.sleep(0.1)
        if alive(p.pid, start):
            p.send_signal(signal.SIGKILL)

    def checkpoint(self, *args, **kwargs) -> DelayedSubmission:
        """Slurm time limit or pre-emption: stop run.py at a checkpoint, then requeue this same command."""
        self._stop()
        write_state(self.state_path, state="requeued", ended_utc=utc_now())
        return DelayedSubmission(RunCommand(self.name, self.command, self.cwd, self.env, self.state_path,
                                            self.stdout_path, self.stderr_path))
