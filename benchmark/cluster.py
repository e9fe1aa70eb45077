"""What the Slurm path needs besides submitit: one ``sacct`` call for every job of a plan, one ``scancel``, and
the shared-file-system check.

A plan's runs go out as job arrays (one per environment and set of sbatch options), so a plan of 42 runs is a
handful of Slurm jobs. Their states come from a single ``sacct`` call that names every array of the plan (``squeue``
once more for the tasks accounting does not list yet), however many runs there are; submitit's own watcher would
call ``sacct`` once per job.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

# File systems a compute node typically mounts from the same server as the login node.
SHARED_FS = {"nfs", "nfs4", "lustre", "gpfs", "beegfs", "cifs", "smb3", "smbfs", "ceph", "cephfs", "glusterfs",
             "panfs", "wekafs", "pvfs2", "orangefs", "afs", "autofs", "vast", "nfsd"}
SHARED_FUSE = ("fuse.glusterfs", "fuse.sshfs", "fuse.cephfs", "fuse.beegfs", "fuse.juicefs", "fuse.gcsfuse",
               "fuse.lustre", "fuse.weka")
# Folders that are local to each machine whatever their file system says.
LOCAL_PREFIXES = ("/tmp", "/var/tmp", "/dev/shm", "/run", "/scratch/local", "/local")
SACCT_FIELDS = "JobID,State,NodeList"


def main_id(job_id: str) -> str:
    """``4242_3`` (task 3 of array 4242) -> ``4242``; a plain job id is its own."""
    return str(job_id).split("_", 1)[0]


def parse_table(text: str) -> dict[str, dict]:
    """``sacct --parsable2`` output (a header line, then ``|``-separated rows) by job id; an array's pending
    range (``4242_[2-5%4]``) gives one entry per task; job steps (``4242_0.batch``) are skipped."""
    from submitit.slurm.slurm import SlurmInfoWatcher

    return SlurmInfoWatcher().read_info(text)


class States(dict):
    """``{job id: {"State", "NodeList"}}``; ``answered`` is False when neither sacct nor squeue could be asked
    (then a job missing from it is of unknown state, not ended), ``problem`` says why."""

    answered = True
    problem = ""


def _ids(ids) -> str:
    return ",".join(sorted({main_id(j) for j in ids}, key=lambda x: (len(x), x)))


def query_states(job_ids, run=subprocess.run, timeout: float = 120) -> States:
    """``{job id: {"State": ..., "NodeList": ...}}`` for jobs and array tasks (``4242_3``), from ONE ``sacct``
    call naming every array, and one ``squeue`` call for the ids accounting does not know yet (a job just
    submitted, a cluster without accounting). An id neither knows is left out."""
    ids = sorted({str(j) for j in job_ids if j})
    found = States()
    if not ids:
        return found
    problems = []
    try:
        p = run(["sacct", "-X", "-o", SACCT_FIELDS, "--parsable2", "-j", _ids(ids)], capture_output=True, text=True,
                timeout=timeout)
        if p.returncode == 0:
            table = parse_table(p.stdout)
            for j in ids:
                info = table.get(j) or (table.get(main_id(j)) if "_" not in j else None)
                if info and info.get("State"):
                    found[j] = {"State": info["State"].split(" ")[0], "NodeList": info.get("NodeList", "")}
        else:
            problems.append(f"sacct exited {p.returncode}: {' '.join((p.stderr or '').split())[:200]}")
    except (OSError, subprocess.SubprocessError) as exc:
        problems.append(f"sacct: {exc}")
    unknown = [j for j in ids if j not in found or found[j]["State"] == "UNKNOWN"]
    if unknown:
        try:
            q = run(["squeue", "-h", "-r", "-o", "%i|%T|%N", "-j", _ids(unknown)], capture_output=True, text=True,
                    timeout=timeout)
        except (OSError, subprocess.SubprocessError) as exc:
            q = None
            problems.append(f"squeue: {exc}")
        if q is not None and q.returncode != 0 and "invalid job id" not in (q.stderr or "").lower():
            # (squeue refuses ids that have left the queue: an answer, "not queued")
            problems.append(f"squeue exited {q.returncode}: {' '.join((q.stderr or '').split())[:200]}")
        if len(problems) == 2:  # neither answered: what is not listed is unknown, not ended
            found.answered, found.problem = False, "; ".join(problems)
        if q is not None and q.returncode == 0:
            rows = {}
            for line in q.stdout.splitlines():
                parts = line.strip().split("|")
                if len(parts) >= 2 and parts[0]:
                    rows[parts[0]] = {"State": parts[1], "NodeList": parts[2] if len(parts) > 2 else ""}
            for j in unknown:
                if j in rows:
                    found[j] = rows[j]
    return found


def cancel(job_ids, run=subprocess.run, timeout: float = 120) -> subprocess.CompletedProcess:
    """``scancel`` every job or array task named, in one call."""
    return run(["scancel", *sorted({str(j) for j in job_ids})], capture_output=True, text=True, timeout=timeout)


# -- is it shared? ----------------------------------------------------------------------------------------------

def _unescape(field: str) -> str:
    return field.encode().decode("unicode_escape") if "\\" in field else field


def mounts(mountinfo: str | None = None) -> list[tuple[str, str]]:
    """``[(mount point, file system type)]`` from ``/proc/self/mountinfo`` (Linux); empty where there is none."""
    if mountinfo is None:
        try:
            mountinfo = Path("/proc/self/mountinfo").read_text()
        except OSError:
            return []
    out = []
    for line in mountinfo.splitlines():
        fields = line.split()
        if "-" not in fields or len(fields) < 5:
            continue
        dash = fields.index("-")
        if dash + 1 < len(fields):
            out.append((_unescape(fields[4]), fields[dash + 1]))
    return out


def filesystem(path: str | os.PathLike, mountinfo: str | None = None) -> tuple[str, str]:
    """``(file system type, mount point)`` of the mount that holds ``path`` (``stat -f`` where there is no
    mount table); ``("unknown", "")`` when neither says."""
    real = os.path.realpath(path)
    best = ("", "")
    for point, fstype in mounts(mountinfo):
        inside = real == point or real.startswith(point.rstrip("/") + "/") or point == "/"
        if inside and len(point) >= len(best[1]):
            best = (fstype, point)
    if best[0]:
        return best
    existing = Path(real)
    while not existing.exists() and existing != existing.parent:  # a folder not made yet: where it would be
        existing = existing.parent
    try:
        p = subprocess.run(["stat", "-f", "-c", "%T", str(existing)], capture_output=True, text=True, timeout=30)
        if p.returncode == 0 and p.stdout.strip():
            return p.stdout.strip(), ""
    except (OSError, subprocess.SubprocessError):
        pass
    return "unknown", ""


def shared_problem(path: str | os.PathLike, mountinfo: str | None = None) -> str | None:
    """Why ``path`` is probably NOT seen by the compute nodes, or None when it looks shared. A heuristic: a
    folder under /tmp, /var/tmp, /dev/shm, /run, or on a file system that is not a network or cluster one
    (NFS, Lustre, GPFS, BeeGFS, CephFS, ...), is taken as local to this machine."""
    real = os.path.realpath(path)
    for prefix in LOCAL_PREFIXES:
        if real == prefix or real.startswith(prefix + "/"):
            return f"{path} is under {prefix}, a folder local to each machine"
    fstype, point = filesystem(real, mountinfo)
    if fstype in SHARED_FS or fstype.startswith("nfs") or fstype in SHARED_FUSE:
        return None
    where = f" (mounted at {point})" if point else ""
    return f"{path} is on a {fstype} file system{where}, which is usually local to this machine"


def check_shared(paths: dict[str, Path], mountinfo: str | None = None) -> list[str]:
    """One line per folder that the compute nodes probably do not see, ``what: why``."""
    lines = []
    seen = set()
    for what, path in paths.items():
        if path is None or (what, str(path)) in seen:
            continue
        seen.add((what, str(path)))
        problem = shared_problem(path, mountinfo)
        if problem:
            lines.append(f"{what}: {problem}")
    return lines
