"""The one program behind every method's ``run.py``: flags, runs, errors, stops, results.

A method folder describes itself with a :class:`Method` and its ``run.py`` ends with
``sys.exit(skeleton.main(METHOD))``. The skeleton then does, the same way for all five methods:

- **flags**: the common experiment flags (``cli.add_common_args``), the run-control flags below, then the
  method's own (``Method.add_arguments``) and its opt-in fixes. ``--out`` and ``--data-root`` default to the
  repository's ``runs/`` and ``data/`` (``$SHARED_DATA_ROOT`` wins for the data), wherever the command is run.
- **which runs**: ``--seeds 1,2,3`` makes one run folder per training seed; ``--split-seeds 0,1,2`` one per
  split (both together: every pair). A method whose original loops over seeds that also draw the subset
  (``Method.seed_draws_split``: CaLeG, IMSIC) takes split seed = training seed = s for each s of ``--seeds``.
  ``--grid FILE`` repeats all of that for each line of FILE (extra flags per line; ``-`` for none; ``#``
  comments). Every command line of a grid is parsed and its config resolved before anything trains.
- **errors**: a :class:`~shared_data.errors.DataError`, :class:`~shared_data.errors.ConfigError`,
  :class:`~shared_data.errors.RunFolderError` or ``ValueError`` ends the run with one line on stderr and exit
  code 2 (:data:`EXIT_ERROR`); an ``OSError`` the same, naming the path (``cli.os_error_line``).
- **stops**: ``--stop-after N`` (in the method's own unit: ``Method.stop_unit``) stops at the first checkpoint at
  or past N; SIGINT and SIGTERM stop at once, keeping the last checkpoint. Either way the run ends with one hint
  line and exit code 3 (:data:`EXIT_STOPPED`), and the same command resumes it.
- **results**: the method's ``run`` returns a :class:`Outcome`; the skeleton writes a new result into the run
  folder (``RunDir.write_result``), prints one summary line per run and the mean and spread over several. With
  ``--publish RESULTS`` it publishes the run, or, when RESULTS already holds a record of the same run, shows the
  run as a re-run of that record instead of adding a new one; then it sets the run beside its record and the
  paper's cell (``shared_data.compare``), which is how ``make reproduce-<name>`` ends.

The maths stays in the method's folder, in its framework: ``Method.configure`` resolves its config from the
parsed flags (before any framework is imported, so a refused command costs nothing), and ``Method.run`` trains
and evaluates one (split seed, seed) pair.
"""
from __future__ import annotations

import argparse
import shlex
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import cli, errors, records, variants

EXIT_OK, EXIT_ERROR, EXIT_STOPPED = 0, 2, 3
STOP_HINT = "re-run the same command to resume from the last checkpoint"


@dataclass(frozen=True)
class Outcome:
    """What ``Method.run`` gives back for one run: its folder, its result and whether the result is new (the
    skeleton then writes it) or was read from a run finished earlier. ``result=None``: the command asked for
    part of a run only (one stage), which is done; ``note`` says what comes next."""
    run: Any  # records.RunDir
    result: dict | None
    new: bool = True
    note: str = ""  # an extra word for the summary line (e.g. "epoch 12")


@dataclass(frozen=True)
class Method:
    """A method's entry point, as its ``run.py`` declares it.

    ``add_arguments(parser)`` adds the method's own flags; ``configure(args) -> dict`` resolves the config (raise
    :class:`~shared_data.errors.ConfigError` for a refused combination); ``run(args, cfg, split_seed, seed) ->
    Outcome`` makes one run. ``fixes`` is the method's fix table (``fixes.FIXES``), added as flags.
    """
    name: str
    doc: str
    root: Path  # the method folder (the repository is its parent)
    datasets: tuple
    add_arguments: Callable[[argparse.ArgumentParser], None]
    configure: Callable[[argparse.Namespace], dict]
    run: Callable[..., Outcome]
    fixes: dict = field(default_factory=dict)
    default_dataset: str | None = None
    default_protocol: str = "dgc"
    protocols: tuple | None = None
    default_split_seed: int = 0
    default_seed: int = 0
    default_budget: str = "full"
    seed_draws_split: bool = False
    stop_unit: str = "step"


class _OneLineParser(argparse.ArgumentParser):
    """A bad command line ends with one line on stderr and exit code 2, not the usage block."""

    def error(self, message):
        self.exit(EXIT_ERROR, f"error: {message} (python run.py --help lists the flags)\n")


def _seeds(flag: str):
    def parse(value: str) -> list[int]:
        try:
            seeds = cli.seed_list(value, flag)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        if len(set(seeds)) != len(seeds):
            raise argparse.ArgumentTypeError(f"{flag} names a seed twice: {value!r}")
        return seeds

    parse.__name__ = "seeds"
    return parse


def build_parser(method: Method) -> argparse.ArgumentParser:
    p = _OneLineParser(description=method.doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    kwargs = {} if method.protocols is None else {"protocols_allowed": method.protocols}
    cli.add_common_args(p, datasets=method.datasets, default_dataset=method.default_dataset,
                        default_protocol=method.default_protocol, default_split_seed=method.default_split_seed,
                        default_seed=method.default_seed, default_budget=method.default_budget,
                        repo_root=method.root.resolve().parent, **kwargs)
    g = p.add_argument_group("runs and stops")
    if method.seed_draws_split:
        seeds_help = ("comma-separated seeds, e.g. 1,2,3: one run per seed s, trained on the subset drawn with "
                      "seed s (split seed = training seed = s, as the original loops); overrides --seed and "
                      "--split-seed")
    else:
        seeds_help = "comma-separated training seeds, e.g. 0,1,2: one run folder each (overrides --seed)"
    g.add_argument("--seeds", type=_seeds("--seeds"), default=None, help=seeds_help)
    g.add_argument("--split-seeds", type=_seeds("--split-seeds"), default=None,
                   help="comma-separated split seeds, e.g. 0,1,2: one run folder each (overrides --split-seed)")
    g.add_argument("--grid", default=None, metavar="FILE",
                   help="every line of FILE (extra flags; '-' for none; '#' starts a comment) as its own command, "
                        "each with the other flags of this one, one after another")
    g.add_argument("--stop-after", type=cli.positive_int, default=None, metavar=method.stop_unit.upper(),
                   help=f"stop at the first checkpoint at or past this {method.stop_unit} (exit code "
                        f"{EXIT_STOPPED}); the same command resumes")
    g.add_argument("--no-progress", action="store_true", help="no progress bars")
    method.add_arguments(p)
    if method.fixes:
        variants.add_arguments(p, method.fixes,
                               title="opt-in corrections (default: the released code; README lists them)")
    return p


def pairs(method: Method, args) -> list[tuple[int, int]]:
    """The (split seed, training seed) of every run one parsed command asks for."""
    if method.seed_draws_split and args.seeds is not None:
        if args.split_seeds is not None:
            raise errors.ConfigError("--seeds already sets the split seeds here (split seed = training seed); "
                                     "drop --split-seeds")
        return [(s, s) for s in args.seeds]
    split_seeds = args.split_seeds if args.split_seeds is not None else [args.split_seed]
    seeds = args.seeds if args.seeds is not None else [args.seed]
    return [(sp, s) for sp in split_seeds for s in seeds]


def grid_lines(path) -> list[list[str]]:
    """The extra flags of each line of a grid file ("-": none; "#" starts a comment)."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise errors.ConfigError(f"--grid {path}: {exc.strerror or exc}") from None
    lines = []
    for line in text.splitlines():
        flags = line.split("#", 1)[0].strip()
        if flags:
            lines.append([] if flags == "-" else shlex.split(flags))
    if not lines:
        raise errors.ConfigError(f"--grid {path}: no line of flags")
    return lines


def _without_grid(argv: list[str]) -> list[str]:
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--grid":
            skip = True
        elif not a.startswith("--grid="):
            out.append(a)
    return out


def commands(method: Method, argv=None) -> list[tuple[argparse.Namespace, dict]]:
    """Every (parsed flags, resolved config) one command line asks for: itself, or one per line of its grid.
    All are parsed and resolved before anything runs, so a bad line refuses the whole command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(method)
    args = parser.parse_args(argv)
    todo = [args] if args.grid is None else [
        parser.parse_args(_without_grid(argv) + extra) for extra in grid_lines(args.grid)]
    out = []
    for a in todo:
        cfg = method.configure(a)
        pairs(method, a)  # refused combinations surface now
        out.append((a, cfg))
    return out


def _stop_on_signals() -> None:
    """SIGTERM (a scheduler's or ``kill``'s stop) ends a run like Ctrl-C: at once, keeping the last checkpoint."""

    def _raise(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, _raise)


def _summary(outcome: Outcome) -> str:
    from .metrics import summary_line

    note = f"  {outcome.note}" if outcome.note else ""
    again = "" if outcome.new else "  (finished earlier)"
    return f"{outcome.run.path}{note}: {summary_line(outcome.result['metrics'])}{again}"


def publish(method: Method, outcome: Outcome, args) -> None:
    """``--publish RESULTS``: copy a new run into RESULTS, unless it re-runs a committed record (the same run
    name): then it is shown beside that record, not published as a new one. Either way, the run is then set
    beside its record and the paper's cell (``shared_data.compare``)."""
    from . import compare

    earlier = compare.rerun_of(outcome.run.path, args.publish)
    if earlier:
        print(f"{outcome.run.path.name} re-runs a committed record: not published as a new one (to add it beside "
              f"the record anyway: python -m shared_data publish {outcome.run.path} --results {args.publish})")
    else:
        print(f"published {records.publish(outcome.run.path, args.publish, allow_dirty=args.allow_dirty)}")
    print(compare.compare_text(outcome.run.path, args.publish, method.root.resolve().parent / "paper_tables"),
          flush=True)


def execute(method: Method, args, cfg: dict) -> list[Outcome]:
    """Every run of one parsed command, in turn: run, write the result, publish, summarise."""
    outcomes = []
    for split_seed, seed in pairs(method, args):
        outcome = method.run(args, cfg, split_seed, seed)
        if outcome.result is None:  # a part of the run, asked for alone, is done
            print(f"{outcome.run.path}: {outcome.note or 'done'}", flush=True)
            continue
        if outcome.new:
            outcome.run.write_result(outcome.result)
        print(_summary(outcome), flush=True)
        if args.publish:
            publish(method, outcome, args)
        outcomes.append(outcome)
    if len(outcomes) > 1:
        import numpy as np

        acsa = np.array([o.result["metrics"]["acsa"] for o in outcomes])
        print(f"{outcomes[0].result.get('variant', method.name)}: ACSA over {len(acsa)} runs "
              f"{acsa.mean():.4f} +- {acsa.std():.4f}")
    return outcomes


def main(method: Method, argv=None) -> int:
    """Parse, run, and turn every failure into its exit code (module doc)."""
    if argv is None:
        _stop_on_signals()
    try:
        for args, cfg in commands(method, argv):
            execute(method, args, cfg)
        return EXIT_OK
    except (KeyboardInterrupt, errors.RunStopped) as exc:
        why = str(exc) if isinstance(exc, errors.RunStopped) and str(exc) else "stopped"
        print(f"{why}; {STOP_HINT}", file=sys.stderr)
        return EXIT_STOPPED
    except (errors.ProjectError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:  # a folder that is missing, not writable, or under a file
        print(cli.os_error_line(exc), file=sys.stderr)
        return EXIT_ERROR
