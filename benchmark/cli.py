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
from .engine import PACKAGE_ROOT, SLURM_OVERRIDES, STATES, Runner, RunnerError

SHIPPED_ORDER = ("smoke", "quick", "full")


def _shipped() -> list[plans.Plan]:
    paths = sorted(plans.PLAN_DIR.glob("*.toml"),
                   key=lambda p: (SHIPPED_ORDER.index(p.stem) if p.stem in SHIPPED_ORDER else 99, p.stem))
    return [plans.load(p) for p in paths]


def _runner(args, plan: plans.Plan) -> Runner:
    repo = Path(args.repo).resolve()
    slurm = {key: getattr(args, key, None) for key in SLURM_OVERRIDES}
    slurm["setup"] = getattr(args, "setup", None) or []
    return Runner(plan, repo=repo, runs=args.runs or repo / "runs",
                  data_root=args.data_root or os.environ.get("SHARED_DATA_ROOT") or repo / "data",
                  results=plan_results(args.results, plan, repo), state_root=args.state,
                  allow_dirty=getattr(args, "allow_dirty", False), only=args.only, log=_say,
                  poll_s=getattr(args, "poll", 1.0), slurm=slurm)


def plan_results(given, plan: plans.Plan, repo: Path) -> Path:
    """Where a plan's runs publish: ``--results``; else the plan's own ``results`` folder; else the committed
    ``<repo>/results``. A plan that names its own folder (the smoke plan) never publishes into the committed one:
    a ``--results`` that points there (what ``make benchmark`` passes) is replaced by the plan's folder, said on
    stderr."""
    committed = repo / "results"
    own = (repo / plan.results).absolute() if plan.results else None
    if given:
        path = Path(given).absolute()
        if own is not None and path.resolve() == committed.resolve():
            _note(f"plan {plan.name} publishes into its own results folder {own} (the plan's `results`), not into "
                  f"the committed {committed}")
            return own
        return path
    return own or committed


def _note(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _seconds(value: str) -> float:
    """argparse type: a finite number of seconds > 0."""
    seconds = finite_float(value)
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {value!r}")
    return seconds


def _say(line: str) -> None:
    print(line, flush=True)


def _count(value: str) -> int:
    """argparse type: an integer >= 0."""
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value!r}")
    return n


def _write_report(runner: Runner, readme: str | None, paper_tables: str) -> None:
    csv, n = results.write_outputs(runner.plan, runner.jobs, runner.index(), runner.results, runner.repo)
    if n:
        _say(f"wrote {csv} ({n} rows) and {csv.with_name(runner.plan.name + '_per_class_recall.png').name}")
    if readme and runner.plan.results:
        _say(f"{readme}: not updated (plan {runner.plan.name} keeps its results in its own folder, "
             f"{runner.results}; the README shows the committed results only)")
    elif readme:
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
    while True:
        rows = runner.statuses()  # one sacct call for every Slurm job of the plan
        if args.json:
            print(json.dumps([{"name": j.name, "folder": j.folder, "state": st.state, "detail": st.detail,
                               "results": [str(p) for p, _ in st.results], "run_dir": str(runner.run_dir(j)),
                               "progress": runner.progress(j)} for j, st in rows], indent=2))
            return 0
        _print_status(runner, rows)
        if not args.watch or not any(st.state == "running" for _, st in rows):
            return 0
        time.sleep(args.watch)
        _say("")


def _print_status(runner: Runner, rows) -> None:
    """One line per run (state, name, progress bar, where, last metric); then each failure in full."""
    width = max((len(job.name) for job, _ in rows), default=0)
    now = time.time()
    _say(f"plan {runner.plan.name} at {time.strftime('%Y-%m-%d %H:%M:%S')}:")
    for job, st in rows:
        _say(runner.status_line(job, st, width, now))
    for folder in runner.absent:
        _say(f"absent   {folder}: not in this repository")
    for job, st in rows:
        if st.state == "failed":
            _say(runner.describe_failure(job, st))
    counts = {s: sum(st.state == s for _, st in rows) for s in STATES}
    _say(f"plan {runner.plan.name}: " + ", ".join(f"{n} {s}" for s, n in counts.items()))


def cmd_cancel(args) -> int:
    runner = _runner(args, plans.load(args.plan))
    runner.cancel_slurm()
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
    r.add_argument("--readme", default=None, help="also regenerate this README's benchmark section (not for a "
                                                   "plan with its own results folder, such as smoke)")
    sl = r.add_argument_group("slurm", "sbatch options for every job of the plan; each overrides the plan's value")
    sl.add_argument("--partition", default=None)
    sl.add_argument("--account", default=None)
    sl.add_argument("--gpus-per-node", dest="gpus_per_node", type=_count, default=None, metavar="N")
    sl.add_argument("--cpus-per-task", dest="cpus_per_task", type=positive_int, default=None, metavar="N")
    sl.add_argument("--mem", default=None, help="memory per node, as sbatch takes it (16G, 32000M)")
    sl.add_argument("--time", type=positive_int, default=None, metavar="MINUTES", help="the time limit of each run")
    sl.add_argument("--array-parallelism", dest="array_parallelism", type=positive_int, default=None, metavar="N",
                    help="at most N runs of one job array at once (default: all)")
    sl.add_argument("--setup", action="append", default=[], metavar="LINE",
                    help="a shell line the job script runs before it activates the method's environment, after "
                         "the plan's own setup lines (repeatable), e.g. 'module load cuda/12.4'")
    r.set_defaults(func=cmd_run)

    s = sub.add_parser("status", help="done, running, failed and missing runs of a plan, with a progress bar each")
    common(s)
    s.add_argument("--json", action="store_true")
    s.add_argument("--watch", type=_seconds, default=None, metavar="SECONDS",
                   help="print the status again every SECONDS until no run is running")
    s.set_defaults(func=cmd_status)

    c = sub.add_parser("cancel", help="scancel every pending or running Slurm job of a plan (one call); `run` "
                                      "again resumes them")
    common(c)
    c.set_defaults(func=cmd_cancel)

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
