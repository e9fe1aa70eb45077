"""``python -m benchmark``: run a plan, follow it, list its commands, write its report."""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

from shared_data.cli import finite_float, positive_int

from . import plan as plans
from . import results
from .engine import PACKAGE_ROOT, STATES, Runner, RunnerError

SHIPPED_ORDER = ("smoke", "quick", "full")


def _shipped() -> list[plans.Plan]:
    paths = sorted(plans.PLAN_DIR.glob("*.toml"),
                   key=lambda p: (SHIPPED_ORDER.index(p.stem) if p.stem in SHIPPED_ORDER else 99, p.stem))
    return [plans.load(p) for p in paths]


def _runner(args, plan: plans.Plan) -> Runner:
    repo = Path(args.repo).resolve()
    return Runner(plan, repo=repo, runs=args.runs or repo / "runs",
                  data_root=args.data_root or os.environ.get("SHARED_DATA_ROOT") or repo / "data",
                  results=args.results or repo / "results", state_root=args.state,
                  allow_dirty=getattr(args, "allow_dirty", False), only=args.only, log=_say,
                  poll_s=getattr(args, "poll", 1.0))


def _seconds(value: str) -> float:
    """argparse type: a finite number of seconds > 0."""
    seconds = finite_float(value)
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {value!r}")
    return seconds


def _say(line: str) -> None:
    print(line, flush=True)


def _write_report(runner: Runner, readme: str | None, paper_tables: str) -> None:
    csv, n = results.write_outputs(runner.plan, runner.jobs, runner.index(), runner.results, runner.repo)
    if n:
        _say(f"wrote {csv} ({n} rows) and {csv.with_name(runner.plan.name + '_per_class_recall.png').name}")
    if readme:
        text = results.section(_shipped_with(runner.plan), runner.results, runner.repo, Path(paper_tables))
        changed = results.update_readme(readme, text)
        _say(f"{readme}: benchmark section {'updated' if changed else 'unchanged'}")


def _shipped_with(plan: plans.Plan) -> list[plans.Plan]:
    shipped = _shipped()
    return shipped if any(p.name == plan.name for p in shipped) else shipped + [plan]


def _check_folders(results_root=None, paper_tables=None) -> None:
    from shared_data.report import check_folders

    check_folders(results_root, paper_tables)


def cmd_run(args) -> int:
    plan = plans.load(args.plan)
    runner = _runner(args, plan)
    if args.readme:  # checked before any run starts, not once they have all ended
        _check_folders(paper_tables=args.paper_tables)
    for folder in runner.absent:
        _say(f"not in this repository: {folder} (its runs are left out)")
    start = time.time()
    if args.cluster == "slurm":
        outcome = runner.submit_slurm()
        if not args.wait:
            _say(f"submitted; follow with `python -m benchmark status {args.plan}` (or run again with --wait); "
                 f"`python -m benchmark report {args.plan}` writes the CSV once they are done")
            return 0
        try:
            outcome = runner.wait_slurm(poll_s=args.poll)
        except KeyboardInterrupt:
            _say(f"stopped waiting; the submitted Slurm jobs go on: `python -m benchmark status {args.plan}` "
                 f"follows them")
            raise
    else:
        outcome = runner.run_local(max_jobs=args.jobs)
    counts = ", ".join(f"{len(outcome.get(s, []))} {s}" for s in STATES)
    _say(f"plan {plan.name}: {counts} ({time.time() - start:.0f} s)")
    for job in outcome.get("failed", []):
        _say(f"  failed {job.name}; re-run: {runner.rerun_line(job)}")
    _write_report(runner, args.readme, args.paper_tables)
    return 0 if len(outcome.get("done", [])) == len(runner.jobs) else 1


def cmd_status(args) -> int:
    plan = plans.load(args.plan)
    runner = _runner(args, plan)
    rows = runner.statuses()
    if args.json:
        print(json.dumps([{"name": j.name, "folder": j.folder, "state": st.state, "detail": st.detail,
                           "results": [str(p) for p, _ in st.results]} for j, st in rows], indent=2))
        return 0
    for job, st in rows:
        if st.state == "failed":
            _say(runner.describe_failure(job, st))
        elif st.state == "done":
            m = st.results[0][1]["metrics"]
            _say(f"done     {job.name}: ACSA {m['acsa']:.4f} ({len(st.results)} published)")
        else:
            _say(f"{st.state:8s} {job.name}: {st.detail}")
    for folder in runner.absent:
        _say(f"absent   {folder}: not in this repository")
    counts = {s: sum(st.state == s for _, st in rows) for s in STATES}
    _say(f"plan {plan.name}: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    return 0


def cmd_plan(args) -> int:
    plan = plans.load(args.plan)
    runner = _runner(args, plan)
    if args.json:
        print(json.dumps([{"name": j.name, "folder": j.folder, "role": j.role, "variant": j.variant,
                           "dataset": j.dataset, "protocol": j.protocol, "split_seed": j.split_seed, "seed": j.seed,
                           "budget": j.budget, "cwd": str(runner.repo / j.folder), "command": runner.command(j),
                           "env": runner.env(j), "estimate": j.estimate} for j in runner.jobs], indent=2))
        return 0
    _say(f"plan {plan.name} ({plan.path}): {len(runner.jobs)} runs. {plan.description}")
    for job in runner.jobs:
        _say(f"{job.name}\n  {runner.rerun_line(job)}")
    return 0


def cmd_report(args) -> int:
    repo = Path(args.repo).resolve()
    results_root = Path(args.results or repo / "results")
    _check_folders(results_root, args.paper_tables)  # a misspelt folder would empty the README's section
    for spec in args.plan:
        runner = _runner(args, plans.load(spec))
        _write_report(runner, None, args.paper_tables)
    text = results.section(_shipped() + [p for p in map(plans.load, args.plan)
                                         if p.name not in {s.name for s in _shipped()}],
                           results_root, repo, Path(args.paper_tables))
    if args.readme:
        changed = results.update_readme(args.readme, text)
        _say(f"{args.readme}: benchmark section {'updated' if changed else 'unchanged'}")
    else:
        print(text)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmark",
                                description="Every method of a plan on the same splits, as local processes or "
                                            "Slurm jobs (submitit); see benchmark/README.md.")
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(sp, plan=True):
        if plan:
            sp.add_argument("plan", help="a plan file, or a shipped plan's name (smoke, quick, full)")
        sp.add_argument("--repo", default=str(PACKAGE_ROOT), help="repository root (default: this checkout)")
        sp.add_argument("--runs", default=None, help="root of the run folders (default <repo>/runs)")
        sp.add_argument("--data-root", default=None, help="data root (default $SHARED_DATA_ROOT or <repo>/data)")
        sp.add_argument("--results", default=None, help="where runs publish (default <repo>/results)")
        sp.add_argument("--state", default=None,
                        help="the runner's job files and logs (default <runs>/benchmark/<plan>)")
        sp.add_argument("--only", nargs="+", default=None, metavar="FOLDER", help="only these method folders")
        sp.add_argument("--paper-tables", default=str(PACKAGE_ROOT / "paper_tables"))
        if plan:
            sp.add_argument("--allow-dirty", action="store_true",
                            help="pass --allow-dirty to run.py: publish runs made from uncommitted code (recorded); "
                                 "plan and status then print the commands with it")

    r = sub.add_parser("run", help="run every job of a plan that is not published yet (resuming interrupted ones)")
    common(r)
    r.add_argument("--cluster", choices=("local", "slurm"), default="local",
                   help="local: processes on this machine (default); slurm: sbatch jobs with the plan's options")
    r.add_argument("--jobs", type=positive_int, default=None,
                   help="local: at most this many jobs at once (default: CPU cores / threads per job)")
    r.add_argument("--wait", action="store_true", help="slurm: poll until every job has ended, then report")
    r.add_argument("--poll", type=_seconds, default=None, help="seconds between status checks (local 1, slurm 60)")
    r.add_argument("--readme", default=None, help="also regenerate this README's benchmark section")
    r.set_defaults(func=cmd_run)

    s = sub.add_parser("status", help="done, running, failed and missing runs of a plan")
    common(s)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_status)

    pl = sub.add_parser("plan", help="the runs of a plan and the exact command of each")
    common(pl)
    pl.add_argument("--json", action="store_true")
    pl.set_defaults(func=cmd_plan)

    rp = sub.add_parser("report", help="the README's benchmark section from results/benchmark/*.csv; with plans, "
                                       "first rewrite their CSV and plot from the published results")
    rp.add_argument("plan", nargs="*")
    common(rp, plan=False)
    rp.add_argument("--readme", default=None, help="replace this README's benchmark section (else print it)")
    rp.set_defaults(func=cmd_report)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "poll", None) is None:
        args.poll = 60.0 if getattr(args, "cluster", "local") == "slurm" else 1.0
    # submitit's workers unpickle benchmark.jobs.RunCommand: they must find this package from any folder
    os.environ["PYTHONPATH"] = os.pathsep.join([str(PACKAGE_ROOT)] + [p for p in os.environ.get(
        "PYTHONPATH", "").split(os.pathsep) if p])

    def _stop(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, _stop)  # a scheduler's or kill's stop: like Ctrl-C
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except (plans.PlanError, RunnerError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
