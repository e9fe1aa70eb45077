"""DGC: Deep Generative Model for Robust Imbalance Classification (Wang, Lyu, Jing, CVPR 2020).

Faithful TF1 graph-code port (``tf.compat.v1``) of the official code (github.com/lvyilin/DGC, code commit
6486aa30), trained on a ``shared_data`` split and scored by ``shared_data.metrics``.

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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from shared_data import cli, records, registry, splits  # noqa: E402
from shared_data.fetch import DataError  # noqa: E402
from shared_data.protocols import SplitError  # noqa: E402

from dgc.config import DATASETS, FIXES, ConfigError, apply_args, load_config  # noqa: E402

METHOD = "dgc"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_common_args(p, datasets=DATASETS, default_dataset="mnist", default_protocol="dgc",
                        default_split_seed=1, default_seed=0)
    o = p.add_argument_group("the original's flags")
    o.add_argument("--exp", default=None, help="alias of --dataset (the original's name for it)")
    h = p.add_argument_group("hyper-parameters (default: the dataset's config, see configs/)")
    h.add_argument("--epochs", type=int, default=None, help="epoch_num (MNIST 50; the paper's Fig. 4 uses 100 "
                                                          "for Fashion-MNIST)")
    h.add_argument("--lambda", dest="lambda_", metavar="LAMBDA", type=float, default=None,
                   help="lambda (code: 1; paper: {1, 10})")
    h.add_argument("--zdim", type=int, default=None, help="latent size k (code: 64; paper CelebA: 128)")
    h.add_argument("--aug-rate", type=float, default=None, help="latent oversampling rate r (0.6)")
    h.add_argument("--sampling-size", type=int, default=None, help="S, samples per class at prediction (10)")
    h.add_argument("--test-subset", type=int, default=None,
                   help="evaluate on the first N test images of each class (default: budget's choice)")
    h.add_argument("--lr", type=float, default=None, help="base learning rate")
    h.add_argument("--batch-size", type=int, default=None, help="training batch size")
    f = p.add_argument_group("fixes of the released code (opt-in; default = faithful, see README)")
    f.add_argument("--ce-reduction", choices=("sum", "mean"), default=None,
                   help="cross-entropy over the batch: sum (code, '# FIXME') or mean")
    f.add_argument("--lr-schedule-cumulative", action="store_true", default=None,
                   help="cumulative 'manual' / decaying 'manual_smooth' LR schedules (intended) instead of the "
                        "code's one-epoch halving / constant factor")
    f.add_argument("--lvo-main-optimizer", action="store_true", default=None,
                   help="LVO step on the main (decayed) Adam instead of the pretraining Adam")
    f.add_argument("--separate-cls-optimizer", action="store_true", default=None,
                   help="a separate Adam for the classifier-only oversampling step")
    f.add_argument("--decode-oversampled", action="store_true", default=None,
                   help="also decode the oversampled codes and train the decoder on them (paper Sec. 3.3)")
    f.add_argument("--aug-count-rule", choices=("code", "paper"), default=None,
                   help="copies per sample: code 1 + r(Nmax - Nc)/Nc, paper max{1, r Nmax/Nc}")
    f.add_argument("--inference-mmd", choices=("plus", "minus", "off"), default=None,
                   help="sign of the lambda * MMD term in the Bayes-rule score (code: plus)")
    f.add_argument("--reshuffle-each-epoch", action="store_true", default=None,
                   help="reshuffle the training batches every epoch (code: fixed order)")
    f.add_argument("--report-epoch", type=int, default=None,
                   help="report this 1-based epoch's evaluation instead of the last one")
    r = p.add_argument_group("running")
    r.add_argument("--no-progress", action="store_true", help="no progress bars")
    r.add_argument("--interrupt-after-epoch", type=int, default=None, help=argparse.SUPPRESS)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    t0 = time.time()
    try:
        if args.exp is not None:
            args.dataset = registry.canonical_name(args.exp)
            if args.dataset not in DATASETS:
                raise ConfigError(f"--exp {args.exp}: no DGC config; available: {', '.join(DATASETS)}")
        cfg = load_config(args.dataset, args.budget)
        cfg, tags = apply_args(cfg, args)
        variant = METHOD if not tags else f"{METHOD}-{'-'.join(tags)}"
        identity = dict(cfg, method=METHOD, variant=variant, protocol=args.protocol, split_seed=args.split_seed,
                        seed=args.seed, imbalance=args.imbalance, ir=args.ir)
        name = records.run_name(args.dataset, args.protocol, args.split_seed, args.seed, args.budget,
                                tag="-".join(tags) or None)
        run = records.RunDir.create(args.out, METHOD, name, identity)
        if run.is_complete():
            res = run.read_result()
            print(f"{run.path}: finished; {res['metrics']['acsa']:.4f} ACSA, {res['metrics']['fmacro']:.4f} "
                  f"Fmacro, {res['metrics']['gmacro_dgc']:.4f} Gmacro (delete the folder to train again)")
            return 0
        split = splits.get_split(args.dataset, args.protocol, args.split_seed, imbalance=args.imbalance,
                                 ir=args.ir, data_root=args.data_root, mirrors=args.mirror)
    except (ConfigError, DataError, SplitError, registry.UnknownDatasetError, records.RunError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{run.path}: {args.dataset} {split.split_id} counts {split.train_counts}, budget {args.budget}, "
          f"variant {variant}")

    from dgc import train  # TensorFlow is imported only once the inputs are known to be good

    trainer = None
    try:
        trainer = train.Trainer(cfg, split, run, args.seed, progress=not args.no_progress)
        done = trainer.fit(interrupt_after_epoch=args.interrupt_after_epoch)
        if done is None:
            return 0
        rec = train.report_record(run, cfg["report_epoch"])
        device = train.device_name()
    except (RuntimeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted; re-run the same command to resume from {run.checkpoint_dir}", file=sys.stderr)
        return 130
    finally:
        if trainer is not None:
            trainer.close()

    import shutil

    shutil.copyfile(run.path / "predictions" / f"epoch-{rec['epoch']:03d}.npz", run.path / "predictions.npz")
    metrics = {k: v for k, v in rec.items() if k not in ("kind", "discriminative", "eval_time_s", "rule")}
    result = records.make_result(
        method=METHOD, framework="tensorflow (tf.compat.v1 graph)", split=split, seed=args.seed,
        budget=args.budget, device=device, wall_time_s=done["wall_time_s"], metrics=metrics, config=identity,
        variant=variant,
        extra={"prediction_rule": "generative Bayes rule (spec section 9); metrics.* are its metrics",
               "discriminative": rec["discriminative"], "report_epoch": rec["epoch"],
               "test_subset_per_class": cfg["test_subset_per_class"], "sampling_size": cfg["sampling_size"],
               "n_test_official": int(len(split.y_test)), "fixes": {k: cfg[k] for k in FIXES}})
    result["n_test"] = int(rec["n_test"])  # the evaluated images (a subset under the quick budget)
    run.write_result(result)
    train.per_class_plot(run, rec)
    m, d = rec, rec["discriminative"]
    print(f"result (epoch {rec['epoch']}, {rec['n_test']} test images): ACSA {m['acsa']:.4f} Fmacro "
          f"{m['fmacro']:.4f} Gmacro {m['gmacro_dgc']:.4f} RMI {m['rmi']:.4f} PMA {m['pma']:.4f} | p(y|z): ACSA "
          f"{d['acsa']:.4f} Fmacro {d['fmacro']:.4f} Gmacro {d['gmacro_dgc']:.4f}  -> {run.result_path} "
          f"[{time.time() - t0:.0f} s this call]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
