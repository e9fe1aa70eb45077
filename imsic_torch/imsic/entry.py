"""What run.py does with one IMSIC command and each of its runs: the config a run saves, the device, the stages in
turn, and the outcome that the run skeleton (``shared_data.skeleton``) writes and prints.

No framework is imported at module level: run.py resolves and checks every command's config before torch loads.
"""
from __future__ import annotations

import errno
from pathlib import Path

from shared_data import errors, records, skeleton, splits

from .errors import StageError, WriteError

STAGES = ("gan", "map", "synth", "cnn", "all")
RESULT_STAGES = ("cnn", "all")  # the stages that end with a result
FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)  # a write that failed for want of room


def derive(cfg: dict, args, gan_training_options: list[str]) -> dict:
    """The resolved config (``configs/<dataset>.py``, budget, flags, fix values) completed with the run's choices
    and what they force, each forced change recorded in ``forced_deviations``. ``gan_training_options`` are the
    flags set away from their defaults that change how the GAN trains (``fixes.gan_training_options``)."""
    if cfg["lambda_con"] < 0:
        raise errors.ConfigError(f"lambda_con must be >= 0, got {cfg['lambda_con']}")
    if cfg["code_dim"] < 1:
        raise errors.ConfigError(f"code_dim must be >= 1, got {cfg['code_dim']}")
    if args.model == "baseline" and args.stage not in RESULT_STAGES:
        raise errors.ConfigError(f"the baseline has no {args.stage} stage (it trains the CNN only: --stage cnn or "
                                 f"all)")
    if args.stage not in RESULT_STAGES and args.publish:
        raise errors.ConfigError(f"--stage {args.stage} makes no result to publish: publish with --stage cnn or all")
    cfg.update(model=args.model, category_map=args.category_map, protocol=args.protocol, imbalance=args.imbalance,
               gan=args.gan)
    if args.gan == "released" and args.model != "baseline":
        return _released_gan(cfg, args, gan_training_options)
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


def _released_gan(cfg: dict, args, gan_training_options: list[str]) -> dict:
    """--gan released: the authors' GAN fixes code_dim, and no flag that changes how a GAN trains applies."""
    from .released import code_dim

    released_dim = code_dim(args.dataset)
    if args.code_dim is not None and args.code_dim != released_dim:
        raise errors.ConfigError(f"--code-dim {args.code_dim}: the released {args.dataset} GAN has code_dim "
                                 f"{released_dim}")
    if args.lambda_con is not None:
        raise errors.ConfigError("--lambda-con sets the GAN's training loss; --gan released trains no GAN")
    if gan_training_options:
        raise errors.ConfigError(f"{gan_training_options[0]} changes how the GAN trains; --gan released trains no "
                                 f"GAN")
    cfg.update(code_dim=released_dim, gan_dataset_resolved=None, edges_clip=None, forced_deviations=[])
    return cfg


def select_device(choice: str):
    import torch

    if choice == "cuda" and not torch.cuda.is_available():
        raise errors.ConfigError("--device cuda: no CUDA device is available (use --device auto or cpu)")
    dev = torch.device("cuda" if choice == "cuda" or (choice == "auto" and torch.cuda.is_available()) else "cpu")
    if dev.type == "cuda":
        return dev, records.describe_device([torch.cuda.get_device_name(dev)])
    return dev, records.describe_device()


def _note(result: dict) -> str:
    return f"[{result['variant']}] epoch {result['extra']['reported_epoch']}"


def run_one(args, cfg: dict, split_seed: int, seed: int, variant, paper_method: str) -> skeleton.Outcome:
    """One run: its split, its folder (made or resumed), the stages ``--stage`` asks for. A new result comes back
    unwritten (the skeleton writes it); a run finished earlier gives back the result it wrote."""
    import torch

    from .pipeline import Run, missing_inputs

    if args.threads:
        torch.set_num_threads(args.threads)
    device, device_text = select_device(args.device)
    cfg = dict(cfg, seed=seed, split_seed=split_seed)
    split = splits.get_split(args.dataset, args.protocol, split_seed, imbalance=args.imbalance, ir=args.ir,
                             data_root=args.data_root, mirrors=args.mirror, test_per_class=cfg["test_per_class"])
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
    if args.stage in RESULT_STAGES and run.is_complete():
        result = run.read_result()
        return skeleton.Outcome(run, result, new=False, note=_note(result))
    r = Run(cfg, split, run, device, data_root=args.data_root, mirrors=args.mirror, progress=not args.no_progress,
            stop_after=args.stop_after, variant=variant, paper_method=paper_method)
    todo = (["cnn"] if args.model == "baseline" else ["gan", "map", "synth", "cnn"]) if args.stage == "all" \
        else [args.stage]
    steps = {"gan": r.gan, "map": r.category_map, "synth": r.synth, "cnn": r.cnn}
    result = None
    try:
        for stage in todo:
            out = steps[stage]()
            result = out if stage == "cnn" else None
    except OSError as exc:
        if not exc.filename:  # a write that failed for want of room names no file: name the run folder
            exc.filename = str(run.path)
        if exc.errno in FULL:
            raise WriteError(f"{exc.filename}: {exc.strerror}; free disk space (or raise the file-size limit), then "
                             f"re-run the same command to resume from the last checkpoint") from exc
        raise
    if result is None:  # a stage before the CNN: its files are in the run folder, no result yet
        return skeleton.Outcome(run, None, new=False, note=f"stage {args.stage} done")
    return skeleton.Outcome(run, result, new=True, note=_note(result))
