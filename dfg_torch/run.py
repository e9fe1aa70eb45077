#!/usr/bin/env python
"""DFG: Discriminative Feature Generation for classification of imbalanced data (Suh, Lukowicz, Lee, Pattern
Recognition 2022), ported from opensuh/DFG@41fa92d (code of fa1218f) to current PyTorch, LeNet-5 backbone.

    python run.py --dataset fashion [--model dfg|original|fine-tuning|delta]
                  [--stage all|source|channel-eval|train|eval]

Stages run in one run folder, each resuming from the previous one's files. Faithful by default; each flag of the
"fixes" group switches one documented correction on (README.md).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from shared_data import cli, records, selection, splits, variants  # noqa: E402
from shared_data.fetch import DataError  # noqa: E402
from shared_data.metrics import compute, summary_line  # noqa: E402
from shared_data.protocols import SplitError  # noqa: E402
from shared_data.registry import UnknownDatasetError  # noqa: E402

from configs import get_config  # noqa: E402
from fixes import FIXES, RESNET_ONLY, paper_method_of, variant_of  # noqa: E402

DATASETS = ("fashion", "mnist")
MODELS = ("dfg", "original", "fine-tuning", "delta")
STAGES = ("all", "source", "channel-eval", "train", "eval")
LATE_WINDOW = 20  # the mean over the last 20 evaluations: how far the late model drifts from the best one
CHANNEL_EVAL_SEED_OFFSET = 1000  # the channel-eval stage's own minority draw (see fixes: shared_minority_draw)


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit code 2
        self.exit(2, f"error: {message}\n")


def _strength(value: str) -> float:
    try:
        v = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a regulariser weight is a number >= 0, got {value!r}") from None
    if not (v >= 0 and v != float("inf")):
        raise argparse.ArgumentTypeError(f"a regulariser weight is a finite number >= 0, got {value!r}")
    return v


def parse_args(argv=None):
    p = _Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_common_args(p, datasets=DATASETS, default_dataset="fashion", default_protocol="dfg",
                        default_split_seed=0, default_seed=0, default_budget="full", protocols_allowed=("dfg",))
    o = p.add_argument_group("DFG's own flags")
    o.add_argument("--minority", type=cli.nonneg_int, default=None, help="number of minority classes (default 8)")
    o.add_argument("--model", choices=MODELS, default="dfg",
                   help="dfg, or a baseline of the paper's table on the same split and source (default dfg)")
    o.add_argument("--stage", choices=STAGES, default="all", help="run one stage (default: all that are missing)")
    o.add_argument("--channel-eval", choices=("computed", "released"), default="computed",
                   help="computed: filter ablation of the port's source network (MNIST stand-in for EMNIST); "
                        "released: the authors' own channel-evaluation files (Fashion-MNIST; models dfg, delta) "
                        "(default computed)")
    o.add_argument("--alpha-extractor", type=_strength, default=None,
                   help="weight of the extractor regulariser Omega_E (released code: 0.01)")
    o.add_argument("--alpha-classifier", type=_strength, default=None,
                   help="weight of the classifier regulariser Omega_C (released code: 0.01)")
    o.add_argument("--source-checkpoint", default=None,
                   help="a LeNet-5 state dict with 10 outputs (e.g. trained on EMNIST digits) instead of training one")
    o.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda, cuda:N")
    o.add_argument("--threads", type=cli.positive_int, default=1,
                   help="torch CPU threads (default 1: the layers are small, and on a shared 2-core machine two "
                        "threads measured 6x slower than one; see README 'Speed')")
    variants.add_arguments(p, FIXES, title="fixes (all off = the released code's behaviour; README 'Fix flags')")
    x = p.add_argument_group("run control")
    x.add_argument("--split-seeds", default=None,
                   help="comma-separated split seeds, e.g. 0,1,2: one run folder each (overrides --split-seed)")
    x.add_argument("--no-progress", action="store_true", help="accepted for the common contract (no bars here)")
    x.add_argument("--stop-after", type=cli.positive_int, default=None,
                   help="stop (as if interrupted) at the first checkpoint at or after this step; re-run to resume")
    return p.parse_args(argv)


def pick_device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ValueError(f"--device {name!r} is not a device: use auto, cpu, cuda or cuda:N") from None
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"--device {name!r}: this port runs on cpu or cuda (auto, cpu, cuda, cuda:N)")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda asked for, but no CUDA device is available")
    return dev


def build_config(args) -> dict:
    fx = variants.values(args, FIXES)
    bad = [k for k in RESNET_ONLY if fx[k] not in (False, None)]
    if bad:
        raise ValueError(f"--{bad[0].replace('_', '-')} applies to the ResNet-50 backbone, which this port does not "
                         f"build (LeNet-5 only)")
    if not 0.0 <= fx["val_fraction"] < 1.0:
        raise ValueError(f"--val-fraction must be in [0, 1), got {fx['val_fraction']}")
    if fx["leaky_slope"] < 0:
        raise ValueError(f"--leaky-slope must be >= 0, got {fx['leaky_slope']}")
    if args.channel_eval == "released" and args.model not in ("dfg", "delta"):
        raise ValueError(f"--channel-eval released applies to the models that use channel weights (dfg, delta), "
                         f"not {args.model}")
    strengths = {k: v for k, v in (("alpha_extractor", args.alpha_extractor),
                                   ("alpha_classifier", args.alpha_classifier)) if v is not None}
    cfg = get_config(args.dataset, args.budget, model=args.model, fixes=fx, channel_eval=args.channel_eval,
                     **strengths)
    if args.stop_after:
        cfg["stop_after"] = args.stop_after
    return cfg


def split_seed_list(args) -> list[int]:
    if args.split_seeds is None:
        return [args.split_seed]
    return cli.seed_list(args.split_seeds, "--split-seeds")


def main(argv=None) -> int:
    args = parse_args(argv)
    if argv is None:
        cli.sigterm_as_interrupt()
    try:
        cfg = build_config(args)
        seeds = split_seed_list(args)
        if args.source_checkpoint and not Path(args.source_checkpoint).is_file():
            raise ValueError(f"source checkpoint {args.source_checkpoint} does not exist")
        for split_seed in seeds:
            run_one(args, cfg, split_seed)
        return 0
    except KeyboardInterrupt:
        print("interrupted; re-run the same command to resume from the last checkpoint (every "
              "checkpoint_every steps)", file=sys.stderr)
        return 130
    except (DataError, SplitError, UnknownDatasetError, records.RunError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a folder that is missing, not writable, or under a file
        print(cli.os_error_line(exc), file=sys.stderr)
        return 2
    except Exception as exc:
        if type(exc).__name__ == "StageError":
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if type(exc).__name__ == "Interrupted":
            print(str(exc))
            return 3
        raise


def run_one(args, cfg, split_seed: int) -> None:
    variant = variant_of(cfg)
    split = splits.get_split(args.dataset, "dfg", split_seed, imbalance=args.imbalance, ir=args.ir,
                             minority=args.minority, data_root=args.data_root, mirrors=args.mirror)
    needs_ce = args.model in ("dfg", "delta")
    ce_split = split
    released_ce = cfg["channel_eval"] == "released"
    if needs_ce and not released_ce and not cfg["fixes"]["shared_minority_draw"] and args.imbalance == 1:
        ce_split = splits.get_split(args.dataset, "dfg", split_seed + CHANNEL_EVAL_SEED_OFFSET, ir=args.ir,
                                    minority=args.minority, data_root=args.data_root, mirrors=args.mirror)
    import torch

    from dfg.train import Run, missing_predecessor

    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    name = records.run_name(args.dataset, "dfg", split_seed, args.seed, args.budget, variant=variant.name)
    missing = missing_predecessor(Path(args.out) / "dfg" / name, args.model, args.stage)
    if missing:  # checked before the run folder is touched
        raise ValueError(missing)
    run_cfg = dict(cfg, imbalance=args.imbalance, split_seed=split_seed, seed=args.seed, split_id=split.split_id,
                   split_hash=split.split_hash,
                   channel_eval_split_id=None if released_ce else ce_split.split_id,
                   source_checkpoint=args.source_checkpoint)
    run = records.RunDir.create(args.out, "dfg", name, run_cfg, ignore_keys=("stop_after",))
    r = Run(cfg, split, run, args.seed, device, data_root=args.data_root, mirrors=args.mirror, ce_split=ce_split,
            source_checkpoint=args.source_checkpoint)
    stage = args.stage
    if run.is_complete() and stage == "all":
        result = run.read_result()
        print(f"{run.path}: finished earlier: {summary_line(result['metrics'])}")
    else:
        if stage in ("all", "source") and args.model != "original":
            r.stage_source()
        if stage in ("all", "channel-eval") and needs_ce:
            r.stage_channel_eval()
        if stage in ("all", "train"):
            r.stage_train()
        if stage not in ("all", "eval"):
            return
        result = finish(r, cfg, variant, split, args, device)
        print(f"{run.path}: {summary_line(result['metrics'])}")
    if args.publish:
        print(f"published {records.publish(run.path, args.publish, allow_dirty=args.allow_dirty)}")


def stage_seconds(r, model: str) -> float:
    """Wall time of the source and channel-eval stages, as recorded in their files (0 for a given checkpoint)."""
    total = 0.0
    if model != "original":
        total += float((r.source_info() or {}).get("wall_time_s") or 0.0)
    if model in ("dfg", "delta"):
        total += float(r.load_channel_eval().get("wall_time_s") or 0.0)
    return total


def finish(r, cfg, variant, split, args, device) -> dict:
    """The eval stage: score the final model, pick the reported one, write predictions.npz and result.json."""
    import numpy as np
    import torch

    t_eval = time.time()
    out = r.stage_eval()
    st = out["state"]
    final_logits = out["final_logits"]
    final_probs = torch.softmax(torch.from_numpy(final_logits), 1).numpy()
    final_pred = final_probs.argmax(1)
    fx = cfg["fixes"]
    use_final = fx["report"] == "final" or st["best_probs"] is None
    if use_final:
        probs, reported = final_probs, {"model": "final", "step": cfg["steps"]}
    else:
        probs = st["best_probs"].astype(np.float64)
        probs = probs / probs.sum(1, keepdims=True)
        how = "best validation accuracy" if fx["val_fraction"] > 0 else "best test accuracy"
        reported = {"model": how, "step": st["best_step"]}
    y_pred = probs.argmax(1)
    m = compute(split.y_test, y_pred, train_counts=split.train_counts)
    final_acc = float((final_pred == split.y_test).mean())
    late = selection.late_mean(r.run.read_metrics(), LATE_WINDOW)
    r.run.log_eval(split="test", metrics={"accuracy": final_acc}, step=cfg["steps"], model="final")
    r.run.save_predictions(y_true=split.y_test, y_pred=y_pred, scores=probs, y_pred_final=final_pred,
                           scores_final=final_probs, logits_final=final_logits)
    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if device.type == "cuda" else None
    extra = {"reported": reported, "final_accuracy": final_acc, "best_test_accuracy": st["best_acc"],
             "best_step": st["best_step"], "train_wall_time_s": st.get("elapsed"),
             "accuracies": selection.accuracies(best=st["best_acc"], best_step=st["best_step"], final=final_acc,
                                                late=late, window=LATE_WINDOW),
             "source_network": r.source_info(), "channel_eval_split_id": r.ce_split.split_id
             if args.model in ("dfg", "delta") and cfg["channel_eval"] == "computed" else None,
             "channel_eval": r.load_channel_eval().get("source", "computed") if args.model in ("dfg", "delta")
             else None,
             "minority_classes": (split.manifest.get("dfg") or {}).get("minority_classes"),
             "attention_updates": st.get("attention_updates", []), "model": args.model}
    result = records.make_result(method="dfg", framework=records.framework_version("torch"), split=split,
                                 seed=args.seed, budget=args.budget, device=records.describe_device(gpus),
                                 wall_time_s=stage_seconds(r, args.model) + float(st.get("elapsed") or 0.0)
                                 + (time.time() - t_eval), metrics=m, config=r.run.config,
                                 variant=variant, paper_method=paper_method_of(cfg), extra=extra)
    r.run.write_result(result)
    return result


if __name__ == "__main__":
    sys.exit(main())
