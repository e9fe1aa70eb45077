"""DGC: Deep Generative Model for Robust Imbalance Classification (Wang, Lyu, Jing, CVPR 2020).

Faithful TF1 graph-code port (``tf.compat.v1``) of the official code (github.com/lvyilin/DGC, code commit
6486aa3), trained on a ``shared_data`` split and scored by ``shared_data.metrics``. The corrections of the released
code are opt-in flags (fixes.py; README).

    python run.py --dataset mnist --split-seed 1 --budget quick

The original's ``--seed`` chose the imbalanced subset: that is ``--split-seed`` here (default 1, as there);
``--seed`` is the training seed. The paper's mean +- std over "five imbalanced subsets" is split seeds 1-5.
Re-running the same command resumes from the last checkpoint, or reports the finished result.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from shared_data import cli, records, registry, splits, variants  # noqa: E402
from shared_data.fetch import DataError  # noqa: E402
from shared_data.protocols import SplitError  # noqa: E402

from dgc.config import DATASETS, ConfigError, apply_args, check_split, load_config  # noqa: E402
from fixes import FIXES, PAPER_METHOD, variant_of  # noqa: E402

METHOD = "dgc"


class OneLineParser(argparse.ArgumentParser):
    """Bad command lines end with one line on stderr (and exit code 2), not the usage block."""

    def error(self, message):
        self.exit(2, f"error: {message} (python run.py --help lists the flags)\n")


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_common_args(p, datasets=DATASETS, default_dataset="mnist", default_protocol="dgc",
                        default_split_seed=1, default_seed=0)
    o = p.add_argument_group("the original's flags")
    o.add_argument("--exp", default=None, help="alias of --dataset (the original's name for it)")
    h = p.add_argument_group("hyper-parameters (default: the dataset's config, see configs/)")
    h.add_argument("--epochs", type=cli.positive_int, default=None,
                   help="epoch_num (MNIST 50; the paper's Fig. 4 uses 100 for Fashion-MNIST)")
    h.add_argument("--lambda", dest="lambda_", metavar="LAMBDA", type=cli.finite_float, default=None,
                   help="lambda (code: 1; paper: {1, 10})")
    h.add_argument("--zdim", type=cli.positive_int, default=None, help="latent size k (code: 64; paper CelebA: 128)")
    h.add_argument("--aug-rate", type=cli.finite_float, default=None, help="latent oversampling rate r (0.6)")
    h.add_argument("--sampling-size", type=cli.positive_int, default=None,
                   help="S, samples per class at prediction (10)")
    h.add_argument("--test-subset", type=cli.positive_int, default=None,
                   help="evaluate on the first N test images of each class in the official order (default: the "
                        "budget's choice; the split records it)")
    h.add_argument("--lr", type=cli.finite_float, default=None, help="base learning rate")
    h.add_argument("--batch-size", type=cli.positive_int, default=None, help="training batch size")
    variants.add_arguments(p, FIXES, title="fixes of the released code (opt-in; default = faithful, see README)")
    r = p.add_argument_group("running")
    r.add_argument("--no-progress", action="store_true", help="no progress bars")
    r.add_argument("--interrupt-after-epoch", type=cli.positive_int, default=None, help=argparse.SUPPRESS)
    return p


def publish(run: records.RunDir, args) -> None:
    """``--publish RESULTS``: copy the finished run into the results tree."""
    if args.publish:
        print(f"published: {records.publish(run.path, args.publish, allow_dirty=args.allow_dirty)}")


def check_writable_folder(path: str, flag: str) -> None:
    """Refuse, before anything is written, an output folder that cannot be made: under a file, or in a folder
    this user cannot write to. Nothing is created here."""
    p = Path(path).absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    if not p.is_dir():
        raise ConfigError(f"{flag} {path}: {p} is a file, not a folder; pass another {flag}")
    if not os.access(p, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag} {path}: {p} is not writable; make it writable or pass another {flag}")


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    t0 = time.time()
    run = None
    try:
        if args.exp is not None:
            args.dataset = registry.canonical_name(args.exp)
            if args.dataset not in DATASETS:
                raise ConfigError(f"--exp {args.exp}: no DGC config; available: {', '.join(DATASETS)}")
        cfg = apply_args(load_config(args.dataset, args.budget), args)
        identity = dict(cfg, method=METHOD, protocol=args.protocol, split_seed=args.split_seed, seed=args.seed,
                        imbalance=args.imbalance, ir=args.ir)
        variant = variant_of(identity)
        identity["variant"] = variant.name
        name = records.run_name(args.dataset, args.protocol, args.split_seed, args.seed, args.budget,
                                variant=variant.name)
        check_writable_folder(args.out, "--out")
        run_path = Path(args.out) / METHOD / name
        if (run_path / "config.json").exists():  # an earlier attempt: same config? finished?
            run = records.RunDir.create(args.out, METHOD, name, identity)
            if run.is_complete():
                m = run.read_result()["metrics"]
                print(f"{run.path}: finished; {m['acsa']:.4f} ACSA, {m['fmacro']:.4f} Fmacro, "
                      f"{m['gmacro_dgc']:.4f} Gmacro (delete the folder to train again)")
                publish(run, args)
                return 0
        split = splits.get_split(args.dataset, args.protocol, args.split_seed, imbalance=args.imbalance,
                                 ir=args.ir, data_root=args.data_root, mirrors=args.mirror,
                                 test_per_class=cfg["test_subset_per_class"])
        check_split(cfg, split)
        if run is None:  # the folder is made only once the inputs are known to be good
            run = records.RunDir.create(args.out, METHOD, name, identity)
    except (ConfigError, DataError, SplitError, registry.UnknownDatasetError, records.RunError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a data root, split folder or run folder that cannot be written
        print(cli.os_error_line(exc), file=sys.stderr)
        return 2
    print(f"{run.path}: {args.dataset} {split.split_id} counts {split.train_counts}, {len(split.y_test)} test "
          f"images, budget {args.budget}, variant {variant.name}")

    from dgc import train  # TensorFlow is imported only once the inputs are known to be good

    cli.sigterm_as_interrupt()  # a scheduler's stop ends like Ctrl-C: with the resume hint

    trainer = None
    try:
        trainer = train.Trainer(cfg, split, run, args.seed, progress=not args.no_progress)
        done = trainer.fit(interrupt_after_epoch=args.interrupt_after_epoch)
        if done is None:
            return 0
        rec = train.report_record(run, cfg["report_epoch"])
        device = train.device()
    except (RuntimeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(cli.os_error_line(exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted; re-run the same command to resume from {run.checkpoint_dir}", file=sys.stderr)
        return 130
    finally:
        if trainer is not None:
            trainer.close()

    try:
        return finish(run, args, cfg, split, identity, variant, done, rec, device, t0)
    except OSError as exc:
        print(cli.os_error_line(exc), file=sys.stderr)
        return 2


def finish(run, args, cfg, split, identity, variant, done, rec, device, t0) -> int:
    """The reported evaluation's predictions, result.json, the per-class plot; ``--publish``."""
    import numpy as np

    from dgc import train

    epoch = int(rec["epoch"])
    with np.load(train.prediction_path(run, epoch), allow_pickle=False) as f:
        preds = {k: f[k] for k in f.files}
    run.save_predictions(**preds)
    m, d = train.evaluation_metrics(preds, split.train_counts)
    result = records.make_result(
        method=METHOD, framework=train.framework(), split=split, seed=args.seed, budget=args.budget,
        device=device, wall_time_s=done["wall_time_s"], metrics=m, config=identity, variant=variant,
        paper_method=PAPER_METHOD,
        extra={"prediction_rule": "generative Bayes rule (the original's dgc.py L64-90); metrics.* are its "
                                  "metrics, extra.discriminative those of argmax p(y|z)",
               "discriminative": d, "report_epoch": epoch, "sampling_size": cfg["sampling_size"]})
    run.write_result(result)
    train.per_class_plot(run, epoch, m, d)
    print(f"result (epoch {epoch}, {len(preds['y_true'])} test images): ACSA {m['acsa']:.4f} Fmacro "
          f"{m['fmacro']:.4f} Gmacro {m['gmacro_dgc']:.4f} RMI {m['rmi']:.4f} PMA {m['pma']:.4f} | p(y|z): ACSA "
          f"{d['acsa']:.4f} Fmacro {d['fmacro']:.4f} Gmacro {d['gmacro_dgc']:.4f}  -> {run.result_path} "
          f"[{time.time() - t0:.0f} s this call]")
    publish(run, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
