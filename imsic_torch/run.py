#!/usr/bin/env python
"""IMSIC: Interpretable Minority Synthesis for Imbalanced Classification (He, Lin, Yuan, Tzeng; IJCAI 2021),
ported from the official code fudonglin/IMSIC@649abbd so that it trains end to end on the shared splits.

    python run.py --dataset mnist [--budget quick] [--stage gan|map|synth|cnn|all] [--model baseline]

Stages, each resuming from the previous stage's files in the same run folder: ``gan`` (InfoGAN-style GAN with
the structure loss, one λ_con grid point), ``map`` (categorical code -> class), ``synth`` (100 images per class),
``cnn`` (the small CNN on real + synthetic images, scored with shared_data.metrics). ``--model baseline`` trains
the same CNN on the same real split alone. Faithful by default; each flag of the "fixes" group switches one
documented correction on (README.md).
"""
from __future__ import annotations

import argparse
import errno
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from shared_data import cli, records, splits, variants  # noqa: E402
from shared_data.fetch import DataError  # noqa: E402
from shared_data.metrics import summary_line  # noqa: E402
from shared_data.protocols import SplitError  # noqa: E402
from shared_data.registry import UnknownDatasetError  # noqa: E402

from configs import get_config  # noqa: E402
from fixes import FIXES, variant_of  # noqa: E402

DATASETS = ("mnist", "fashion")
STAGES = ("gan", "map", "synth", "cnn", "all")


class OneLineParser(argparse.ArgumentParser):
    """Bad command lines end with one line on stderr (and exit code 2), not the usage block."""

    def error(self, message):
        self.exit(2, f"error: {message} (python run.py --help lists the flags)\n")


def parse_args(argv=None):
    p = OneLineParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_common_args(p, datasets=DATASETS, default_dataset="mnist", default_protocol="imsic",
                        default_split_seed=0, default_seed=0, default_budget="full")
    o = p.add_argument_group("IMSIC's own flags")
    o.add_argument("--stage", choices=STAGES, default="all",
                   help="run one stage (resuming from the previous stage's files in the run folder) or all")
    o.add_argument("--model", choices=("imsic", "baseline"), default="imsic",
                   help="baseline: the same CNN on the same real split, no synthetic images")
    o.add_argument("--gan", choices=("train", "released"), default="train",
                   help="train: the GAN stage trains the GAN (500 epochs at the full budget); released: the "
                        "authors' trained GAN (fudonglin/IMSIC@649abbd models/gan/, checksum verified) replaces "
                        "the GAN stage")
    o.add_argument("--category-map", choices=("auto", "hardcoded"), default="auto",
                   help="auto: Hungarian matching of a real-data classifier over generated images; hardcoded: "
                        "the authors' table for their shipped checkpoints")
    o.add_argument("--lambda-con", type=cli.finite_float, default=None,
                   help="structure-loss weight (default 0.15)")
    o.add_argument("--code-dim", type=cli.positive_int, default=None,
                   help="continuous codes (default: MNIST 4, Fashion 3)")
    o.add_argument("--seeds", default=None,
                   help="comma-separated seeds: one run per seed s with split seed = training seed = s")
    x = p.add_argument_group("run control")
    x.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="auto: CUDA when present, else the CPU")
    x.add_argument("--threads", type=cli.positive_int, default=None,
                   help="torch.set_num_threads (default: torch's choice)")
    x.add_argument("--no-progress", action="store_true", help="no progress bars")
    variants.add_arguments(p, FIXES)
    return p.parse_args(argv)


def seed_list(args):
    if args.seeds is None:
        return [(args.split_seed, args.seed)]
    return [(s, s) for s in cli.seed_list(args.seeds, "--seeds")]


def build_config(args, split_seed: int, seed: int) -> dict:
    """The resolved config: dataset constants, budget, fixes, and what the dataset forces (recorded)."""
    cfg = get_config(args.dataset, args.budget, lambda_con=args.lambda_con, code_dim=args.code_dim)
    cfg.update(variants.values(args, FIXES))
    cfg.update(model=args.model, category_map=args.category_map, seed=seed, split_seed=split_seed,
               protocol=args.protocol, imbalance=args.imbalance, gan=args.gan)
    if args.gan == "released" and args.model != "baseline":
        return _released_gan_config(args, cfg)
    forced = []
    gd = cfg["gan_dataset"]
    cfg["gan_dataset_resolved"] = "mnist" if gd == "mnist" or (gd == "auto" and args.dataset == "mnist") \
        else args.dataset
    if args.dataset == "fashion" and gd == "auto":
        forced.append("GAN trained on Fashion-MNIST: the released training script reads MNIST only, but the "
                      "released Fashion pipeline loads a Fashion-trained GAN")
    cfg["edges_clip"] = bool(cfg["edges_clip_to_code_dim"])
    if args.dataset == "fashion" and cfg["code_dim"] < 4 and not cfg["edges_clip"]:
        cfg["edges_clip"] = True
        forced.append(f"code_dim {cfg['code_dim']} (the Fashion generation code needs 3) with the edges that "
                      f"name code 3 dropped (the released edge lists need code_dim 4)")
    if cfg["shared_real_subset"]:
        cfg["gan_dataset_resolved"] = args.dataset
    cfg["forced_deviations"] = forced
    return cfg


def _released_gan_config(args, cfg: dict) -> dict:
    """--gan released: the authors' GAN fixes code_dim, and no flag that changes how a GAN trains applies."""
    from fixes import GAN_TRAINING_FIXES
    from imsic.released import code_dim

    released_dim = code_dim(args.dataset)
    if args.code_dim is not None and args.code_dim != released_dim:
        raise ValueError(f"--code-dim {args.code_dim}: the released {args.dataset} GAN has code_dim {released_dim}")
    if args.lambda_con is not None:
        raise ValueError("--lambda-con sets the GAN's training loss; --gan released trains no GAN")
    for f in FIXES:
        if (f.key in GAN_TRAINING_FIXES or f.key == "single_softmax") and cfg[f.key] != f.default:
            raise ValueError(f"{f.option} changes how the GAN trains; --gan released trains no GAN")
    cfg.update(code_dim=released_dim, gan_dataset_resolved=None, edges_clip=None, forced_deviations=[])
    return cfg


def select_device(choice: str):
    import torch

    if choice == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available (use --device auto or cpu)")
    dev = torch.device("cuda" if choice == "cuda" or (choice == "auto" and torch.cuda.is_available()) else "cpu")
    if dev.type == "cuda":
        return dev, records.describe_device([torch.cuda.get_device_name(dev)])
    return dev, records.describe_device()


def run_one(args, split_seed: int, seed: int, device, device_text: str) -> dict | None:
    import torch

    from imsic.io import StageError
    from imsic.pipeline import Run, missing_inputs

    cfg = build_config(args, split_seed, seed)
    if args.model == "baseline" and args.stage in ("gan", "map", "synth"):
        raise ValueError(f"the baseline has no {args.stage} stage (it trains the CNN only: --stage cnn or all)")
    test_n = cfg["test_per_class"]
    split = splits.get_split(args.dataset, args.protocol, split_seed, imbalance=args.imbalance, ir=args.ir,
                             data_root=args.data_root, mirrors=args.mirror, test_per_class=test_n)
    variant = variant_of(cfg)
    name = records.run_name(args.dataset, args.protocol, split_seed, seed, args.budget, variant=variant.name)
    path = Path(args.out) / "imsic" / name
    if args.stage in ("map", "synth", "cnn"):
        missing = missing_inputs(path, args.stage, args.model)
        if missing:
            f, maker = missing[0]
            raise StageError(f"{path / f} is missing: run the same command with --stage {maker} first "
                             f"(or --stage all)")
    cfg.update(split_id=split.split_id, split_hash=split.split_hash, device_description=device_text,
               deterministic_settings={"cudnn_deterministic": True, "cudnn_benchmark": False,
                                       "torch_threads": torch.get_num_threads(), "device": device.type})
    run = records.RunDir.create(args.out, "imsic", name, cfg,
                                ignore_keys=("device_description", "deterministic_settings"))
    r = Run(cfg, split, run, device, data_root=args.data_root, mirrors=args.mirror, progress=not args.no_progress)
    todo = (["cnn"] if args.model == "baseline" else ["gan", "map", "synth", "cnn"]) if args.stage == "all" \
        else [args.stage]
    result = None
    try:
        for stage in todo:
            if stage == "gan":
                r.gan()
            elif stage == "map":
                r.category_map()
            elif stage == "synth":
                r.synth()
            else:
                result = r.cnn()
    except OSError as exc:
        if not exc.filename:  # a write that failed for want of room names no file: name the run folder
            exc.filename = str(run.path)
        raise
    if result is not None:
        print(f"{run.path}  [{result['variant']}] epoch {result['extra']['reported_epoch']}: "
              f"{summary_line(result['metrics'])}")
        if args.publish:
            print(f"published {records.publish(run.path, args.publish, allow_dirty=args.allow_dirty)}")
    else:
        print(f"{run.path}: stage {args.stage} done")
    return result


def write_error_line(exc: OSError) -> str:
    """``cli.os_error_line``, saying what to do when a write failed for want of room (disk full, quota, file-size
    limit): the checkpoint written before it is intact."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        where = f"{exc.filename}: " if exc.filename else ""
        return (f"error: {where}{exc.strerror}; free disk space (or raise the file-size limit), then re-run the "
                f"same command to resume from the last checkpoint")
    return cli.os_error_line(exc)


def main(argv=None) -> int:
    args = parse_args(argv)
    from imsic.io import StageError

    cli.sigterm_as_interrupt()  # a stop by a scheduler or `kill` ends like Ctrl-C: with the resume hint
    try:
        seeds = seed_list(args)
        get_config(args.dataset, args.budget)  # fails before torch is imported when the config is unknown
        import torch

        if args.threads:
            torch.set_num_threads(args.threads)
        device, device_text = select_device(args.device)
        for split_seed, seed in seeds:
            run_one(args, split_seed, seed, device, device_text)
        return 0
    except KeyboardInterrupt:
        print("interrupted; re-run the same command to resume from the last checkpoint", file=sys.stderr)
        return 130
    except (StageError, DataError, SplitError, UnknownDatasetError, records.RunError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a folder that is missing, not writable, or under a file; a disk that is full
        print(write_error_line(exc), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
