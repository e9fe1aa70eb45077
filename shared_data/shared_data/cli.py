"""The common ``run.py`` flags and the ``python -m shared_data`` command line.

Argument types for ``run.py`` flags (each refuses a bad value with argparse's one-line error naming the flag and
the value):

- ``finite_float``: a number, not ``nan`` or ``inf``;
- ``positive_int``: an integer >= 1 (counts: jobs, steps, epochs, batch sizes);
- ``nonneg_int``: an integer >= 0;
- ``seed``: an integer in [0, 2**32 - 1] (``SEED_MAX``), what numpy and the frameworks accept as a seed;
- ``plain_name``: a value that becomes part of a file or folder name (a ``--tag``): letters, digits, ``.``,
  ``_``, ``+``, ``-``, no path separator, not ``..`` (``shared_data.paths.safe_name``).

``seed_list(text, flag)`` reads a comma-separated list of seeds (``--seeds 1,2,3``) with the same bounds and
raises a ValueError naming the flag. ``add_common_args`` gives ``--seed`` and ``--split-seed`` the ``seed`` type
and ``--ir`` the ``finite_float`` type.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

from . import protocols
from .fetch import DEFAULT_DATA_ROOT, MIRROR_ENV, DataError
from .paths import UnsafePathError, safe_name
from .records import BUDGETS
from .registry import DATASETS, UnknownDatasetError, canonical_name


def _dataset_type(allowed):
    def parse(value: str) -> str:
        name = canonical_name(value)  # raises UnknownDatasetError with the known names
        if allowed and name not in allowed:
            raise argparse.ArgumentTypeError(f"{value!r} is not supported here; choose from {', '.join(allowed)}")
        return name

    def wrapped(value):
        try:
            return parse(value)
        except UnknownDatasetError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from exc

    wrapped.__name__ = "dataset"
    return wrapped


def os_error_line(exc: OSError) -> str:
    """A file-system error as one line: the path, what went wrong, what to do."""
    where = f"{exc.filename}: " if exc.filename else ""
    if isinstance(exc, (NotADirectoryError, FileExistsError)):
        hint = "it is under a file, not a folder: pass another path (--out, --data-root)"
    elif isinstance(exc, PermissionError):
        hint = "make it writable or pass another path (--out, --data-root)"
    else:
        hint = "check the path and its permissions"
    return f"error: {where}{exc.strerror or exc}; {hint}"


def sigterm_as_interrupt() -> None:
    """Treat SIGTERM (a scheduler's or ``kill``'s stop) like Ctrl-C: the run's KeyboardInterrupt handling
    checkpoints and prints how to resume, instead of dying without a word."""
    import signal

    def _raise(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, _raise)


SEED_MAX = 2 ** 32 - 1  # numpy's RandomState and the frameworks' seeds take at most 32 bits


def finite_float(value: str) -> float:
    """argparse type: a finite number (``nan`` and ``inf`` are refused, naming the value)."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None
    if not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {value!r}")
    return number


def _integer(value: str, what: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {value!r}") from None


def positive_int(value: str) -> int:
    """argparse type: an integer >= 1."""
    number = _integer(value, "a positive integer")
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {number}")
    return number


def nonneg_int(value: str) -> int:
    """argparse type: an integer >= 0."""
    number = _integer(value, "a non-negative integer")
    if number < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {number}")
    return number


def seed(value: str) -> int:
    """argparse type: a seed, an integer in [0, 2**32 - 1]."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a seed is a non-negative integer, got {value!r}") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"a seed is a non-negative integer, got {number}")
    if number > SEED_MAX:
        raise argparse.ArgumentTypeError(f"a seed is at most 2**32 - 1 = {SEED_MAX}, got {number}")
    return number


def plain_name(value: str) -> str:
    """argparse type: a plain file or folder name (see ``shared_data.paths.safe_name``)."""
    try:
        return safe_name(value, "name")
    except UnsafePathError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def seed_list(text: str, flag: str = "--seeds") -> list[int]:
    """The seeds of a comma-separated flag value (``"1,2,3"``), each an integer in [0, 2**32 - 1]; ValueError
    naming the flag otherwise (run.py turns it into a one-line error)."""
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"{flag} takes comma-separated integers, got {text!r}") from None
    if not seeds:
        raise ValueError(f"{flag} is empty")
    if min(seeds) < 0:
        raise ValueError(f"{flag} takes non-negative integers, got {text!r}")
    if max(seeds) > SEED_MAX:
        raise ValueError(f"{flag} takes seeds of at most 2**32 - 1 = {SEED_MAX}, got {max(seeds)}")
    return seeds


def add_common_args(parser: argparse.ArgumentParser, datasets=None, default_dataset: str | None = None,
                    default_protocol: str = "dgc", default_split_seed: int = 0, default_seed: int = 0,
                    default_budget: str = "full", protocols_allowed=protocols.PROTOCOLS,
                    repo_root: Path | None = None) -> argparse.ArgumentParser:
    """Add the flags every ``run.py`` shares (STYLE.md principle 1). Flags must be spelt out: an abbreviation
    (``--publ`` for ``--publish``) is refused, so that a command recorded in a result means what it says and
    ``verify-record`` can strip every flag that writes outside its temporary folder.

    ``repo_root``: ``--out`` and ``--data-root`` default to that repository's ``runs/`` and ``data/`` (the data
    root: ``$SHARED_DATA_ROOT`` first), wherever the command starts; without it, to ``./runs`` and ``./data``."""
    parser.allow_abbrev = False
    allowed = tuple(datasets) if datasets else None
    g = parser.add_argument_group("common experiment flags")
    g.add_argument("--dataset", type=_dataset_type(allowed), default=default_dataset, required=default_dataset is None,
                   help=f"dataset ({', '.join(allowed or DATASETS)}; alias fmnist = fashion)")
    g.add_argument("--imbalance", type=int, default=1, choices=(0, 1),
                   help="1: the protocol's imbalanced profile (default); 0: the balanced full training set")
    g.add_argument("--ir", type=finite_float, default=None,
                   help="imbalance ratio n_max/n_min for the exp and step protocols (default 100)")
    g.add_argument("--protocol", default=default_protocol, choices=protocols_allowed,
                   help=f"split protocol (default {default_protocol}); see shared_data/README.md")
    g.add_argument("--split-seed", type=seed, default=default_split_seed,
                   help=f"seed that draws the imbalanced split (default {default_split_seed})")
    g.add_argument("--seed", type=seed, default=default_seed,
                   help=f"training seed: initialisation, noise, batching (default {default_seed})")
    g.add_argument("--budget", default=default_budget, choices=BUDGETS,
                   help="full: the paper's schedule; quick: same model, fewer steps; smoke: seconds, for tests")
    if repo_root is None:
        out, out_text = "runs", "./runs"
        data_root, data_text = os.environ.get("SHARED_DATA_ROOT", DEFAULT_DATA_ROOT), "./data"
    else:
        out, out_text = str(Path(repo_root) / "runs"), "the repository's runs/"
        data_root = os.environ.get("SHARED_DATA_ROOT") or str(Path(repo_root) / DEFAULT_DATA_ROOT)
        data_text = "the repository's data/"
    g.add_argument("--out", default=out, help=f"root of run folders (default: {out_text})")
    g.add_argument("--data-root", default=data_root,
                   help=f"where dataset files and splits live (default: $SHARED_DATA_ROOT, else {data_text})")
    g.add_argument("--mirror", action="append", default=[],
                   help=f"extra read-only folder holding canonical files (repeatable; also ${MIRROR_ENV})")
    g.add_argument("--publish", default=None, metavar="RESULTS",
                   help="once the run has finished, copy its result.json and metrics.jsonl to "
                        "RESULTS/<method>/<run name>/ (the committed record the reports read)")
    g.add_argument("--allow-dirty", action="store_true",
                   help="with --publish: publish a run made from uncommitted code (recorded in the copy)")
    return parser


def _cmd_fetch(args) -> int:
    from .fetch import copy_into, fetch_dataset
    from .registry import get

    for name in args.dataset:
        spec = get(name)
        paths = fetch_dataset(spec, args.data_root, args.mirror, download=not args.no_download)
        if args.copy:  # keep a verified copy in the data root, so later runs need no mirror
            copy_into(paths, spec, args.data_root)
            paths = fetch_dataset(spec, args.data_root, [], download=False)
        for role, p in paths.items():
            print(f"{spec.name:8s} {role:13s} ok  {p}")
    return 0


def _cmd_split(args) -> int:
    from .splits import build_split, default_split_dir, write_split

    try:
        counts = [int(c) for c in args.counts.split(",")] if args.counts else None
    except ValueError:
        raise ValueError(f"--counts takes comma-separated integers, one per class, got {args.counts!r}") from None
    split = build_split(args.dataset, args.protocol, args.split_seed, args.imbalance, args.ir, counts,
                        args.data_root, args.mirror, download=not args.no_download)
    out = Path(args.out) if args.out else default_split_dir(split.split_id, args.data_root)
    write_split(split, out, csv=args.csv)
    m = split.manifest
    print(f"split {m['split_id']}  hash {m['content_hash'][:16]}  -> {out}")
    print(f"train counts {m['train_counts']} (n={m['n_train']}, unique {m['unique_train_images']}, "
          f"IR {m['imbalance_ratio']:g})")
    print(f"test counts  {m['test_counts']} (n={m['n_test']})")
    return 0


def _cmd_verify(args) -> int:
    from .splits import verify_files

    s = verify_files(args.split)
    print(f"{s.path}: ok ({s.split_id}, hash {s.split_hash[:16]}; {len(s.manifest['files'])} files match the "
          f"manifest, per-class counts {s.train_counts})")
    return 0


def _cmd_publish(args) -> int:
    from .records import publish

    for run_dir in args.run_dir:
        print(f"published {publish(run_dir, args.results, allow_dirty=args.allow_dirty, replace=args.replace)}")
    return 0


def _cmd_validate(args) -> int:
    import json

    from .records import ResultValidationError, validate_result, validate_run_dir

    for path in map(Path, args.result):
        if path.is_dir():
            validate_run_dir(path)
        else:
            try:
                validate_result(json.loads(path.read_text()))
            except json.JSONDecodeError as exc:
                raise ResultValidationError(f"{path}: not JSON ({exc})") from exc
        print(f"{path}: valid")
    return 0


def _cmd_fixes(args) -> int:
    from .variants import load_table, markdown_table, write_readme

    table = load_table(args.fixes_py)
    if args.write_readme:
        changed = write_readme(args.write_readme, table.FIXES)
        print(f"{args.write_readme}: fixes table {'updated' if changed else 'unchanged'}")
    else:
        print(markdown_table(table.FIXES), end="")
    return 0


def _cmd_migrate(args) -> int:
    from .migrate import migrate_tree

    for line in migrate_tree(args.results, args.repo, dry_run=args.dry_run):
        print(line)
    return 0


def _cmd_report(args) -> int:
    from .report import build_report, check_folders

    check_folders(args.results, args.paper_tables)  # before anything is written
    text = build_report(args.results, args.paper_tables, plot_dir=args.plot_dir, readme=args.write_readme,
                        out_markdown=args.markdown, repo=args.repo)
    print(text)
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m shared_data",
                                description="Datasets, imbalanced splits, run records and reports shared by "
                                            "every method of the project.")
    sub = p.add_subparsers(dest="cmd", required=True)

    def data_flags(sp):
        sp.add_argument("--data-root", default=os.environ.get("SHARED_DATA_ROOT", DEFAULT_DATA_ROOT))
        sp.add_argument("--mirror", action="append", default=[], help=f"mirror folder (also ${MIRROR_ENV})")
        sp.add_argument("--no-download", action="store_true", help="only look in the data root and mirrors")

    f = sub.add_parser("fetch", help="find or download a dataset's canonical files and verify them")
    f.add_argument("--dataset", nargs="+", required=True, type=_dataset_type(None))
    f.add_argument("--copy", action="store_true", help="copy files found in a mirror into the data root")
    data_flags(f)
    f.set_defaults(func=_cmd_fetch)

    s = sub.add_parser("split", help="write an imbalanced split (NPZ, GAMO-layout CSV, manifest)")
    s.add_argument("--dataset", required=True, type=_dataset_type(None))
    s.add_argument("--protocol", required=True, choices=protocols.PROTOCOLS)
    s.add_argument("--split-seed", type=seed, default=0)
    s.add_argument("--imbalance", type=int, default=1, choices=(0, 1))
    s.add_argument("--ir", type=finite_float, default=None, help="imbalance ratio for exp/step (default 100)")
    s.add_argument("--counts", default=None, help="explicit per-class counts, comma-separated, label order")
    s.add_argument("--out", default=None, help="split folder (default <data-root>/splits/<split id>)")
    s.add_argument("--csv", dest="csv", action="store_true", default=None, help="also write CSVs (default: 28x28 only)")
    s.add_argument("--no-csv", dest="csv", action="store_false")
    data_flags(s)
    s.set_defaults(func=_cmd_split)

    v = sub.add_parser("verify", help="re-hash a written split folder")
    v.add_argument("--split", required=True)
    v.set_defaults(func=_cmd_verify)

    pub = sub.add_parser("publish", help="copy finished runs' result.json (and metrics.jsonl) into results/")
    pub.add_argument("run_dir", nargs="+")
    pub.add_argument("--results", default="results")
    pub.add_argument("--allow-dirty", action="store_true",
                     help="publish a run made from uncommitted code (the copy records it)")
    pub.add_argument("--replace", action="store_true",
                     help="replace a different result already published for the same run on the same device")
    pub.set_defaults(func=_cmd_publish)

    val = sub.add_parser("validate", help="check result.json files, or whole run folders, against the contract")
    val.add_argument("result", nargs="+", help="a result.json, or a run folder (result, predictions and log)")
    val.set_defaults(func=_cmd_validate)

    r = sub.add_parser("report", help="results beside the papers' tables (Markdown) and a per-class recall plot")
    r.add_argument("--results", default="results")
    r.add_argument("--paper-tables", default="paper_tables")
    r.add_argument("--plot-dir", default=None, help="write per_class_recall.png and ours_vs_paper.png here")
    r.add_argument("--repo", default=None,
                   help="repository root: fill the variants section of each <method>_*/README.md")
    r.add_argument("--markdown", default=None, help="write the Markdown table here")
    r.add_argument("--write-readme", default=None, help="replace the generated section of this README")
    r.set_defaults(func=_cmd_report)

    fx = sub.add_parser("fixes", help="a method's fix table (fixes.py) as Markdown, or into its README")
    fx.add_argument("fixes_py")
    fx.add_argument("--write-readme", default=None, help="replace this README's generated fixes section")
    fx.set_defaults(func=_cmd_fixes)

    mg = sub.add_parser("migrate", help="upgrade committed result.json files to the current schema")
    mg.add_argument("--results", default="results")
    mg.add_argument("--repo", default=".", help="repository root holding the method folders (their fixes.py)")
    mg.add_argument("--dry-run", action="store_true")
    mg.set_defaults(func=_cmd_migrate)

    from .verify_record import add_parser as add_verify_record

    add_verify_record(sub)

    args = p.parse_args(argv)
    try:
        return args.func(args)
    except (DataError, protocols.SplitError, UnknownDatasetError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a path that is missing, not writable, or under a file
        print(os_error_line(exc), file=sys.stderr)
        return 2
