"""One DFG run on one (split seed, seed): the split, the run folder, the stages, and the result of the eval stage.

run.py's ``METHOD.run`` calls :func:`run_one`; the shared run skeleton writes the returned result into the run
folder and publishes it.
"""
from __future__ import annotations

import time
from pathlib import Path

from shared_data import errors, records, selection, skeleton, splits
from shared_data.metrics import compute

STAGES = ("all", "source", "channel-eval", "train", "eval")
NEXT_STAGE = {"source": "channel-eval", "channel-eval": "train", "train": "eval"}
LATE_WINDOW = 20  # the mean over the last 20 evaluations: how far the late model drifts from the best one
CHANNEL_EVAL_SEED_OFFSET = 1000  # the channel-eval stage's own minority draw (see fixes: shared_minority_draw)


def pick_device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise errors.ConfigError(f"--device {name!r} is not a device: use auto, cpu, cuda or cuda:N") from None
    if dev.type not in ("cpu", "cuda"):
        raise errors.ConfigError(f"--device {name!r}: this port runs on cpu or cuda (auto, cpu, cuda, cuda:N)")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise errors.ConfigError("--device cuda asked for, but no CUDA device is available")
    return dev


def run_one(args, cfg: dict, split_seed: int, seed: int, variant, paper_method: str) -> skeleton.Outcome:
    """The stages ``args.stage`` asks for in the run folder of (split seed, seed); the eval stage's result is new,
    a finished run's is read back. A stage alone (``--stage source`` ...) gives an Outcome without a result."""
    model = cfg["model"]
    split = splits.get_split(args.dataset, "dfg", split_seed, imbalance=args.imbalance, ir=args.ir,
                             minority=args.minority, data_root=args.data_root, mirrors=args.mirror)
    needs_ce = model in ("dfg", "delta")
    ce_split = split
    released_ce = cfg["channel_eval"] == "released"
    if needs_ce and not released_ce and not cfg["fixes"]["shared_minority_draw"] and args.imbalance == 1:
        ce_split = splits.get_split(args.dataset, "dfg", split_seed + CHANNEL_EVAL_SEED_OFFSET, ir=args.ir,
                                    minority=args.minority, data_root=args.data_root, mirrors=args.mirror)
    import torch

    from .train import Run, StageError, missing_predecessor

    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    name = records.run_name(args.dataset, "dfg", split_seed, seed, args.budget, variant=variant.name)
    missing = missing_predecessor(Path(args.out) / "dfg" / name, model, args.stage)
    if missing:  # checked before the run folder is touched
        raise StageError(missing)
    run_cfg = dict(cfg, imbalance=args.imbalance, split_seed=split_seed, seed=seed, split_id=split.split_id,
                   split_hash=split.split_hash,
                   channel_eval_split_id=None if released_ce else ce_split.split_id,
                   source_checkpoint=args.source_checkpoint)
    run = records.RunDir.create(args.out, "dfg", name, run_cfg, ignore_keys=("stop_after",))
    r = Run(cfg, split, run, seed, device, data_root=args.data_root, mirrors=args.mirror, ce_split=ce_split,
            source_checkpoint=args.source_checkpoint)
    stage = args.stage
    if run.is_complete() and stage == "all":
        return skeleton.Outcome(run, run.read_result(), new=False)
    if stage in ("all", "source") and model != "original":
        r.stage_source()
    if stage in ("all", "channel-eval") and needs_ce:
        r.stage_channel_eval()
    if stage in ("all", "train"):
        r.stage_train()
    if stage not in ("all", "eval"):
        return skeleton.Outcome(run, None, new=False, note=f"--stage {stage} done (--stage {NEXT_STAGE[stage]}, "
                                                         f"or no --stage, goes on)")
    return skeleton.Outcome(run, finish(r, cfg, variant, paper_method, split, seed, args.budget, device))


def stage_seconds(r, model: str) -> float:
    """Wall time of the source and channel-eval stages, as recorded in their files (0 for a given checkpoint)."""
    total = 0.0
    if model != "original":
        total += float((r.source_info() or {}).get("wall_time_s") or 0.0)
    if model in ("dfg", "delta"):
        total += float(r.load_channel_eval().get("wall_time_s") or 0.0)
    return total


def finish(r, cfg, variant, paper_method, split, seed, budget, device) -> dict:
    """The eval stage: score the final model, pick the reported one, write predictions.npz; the result."""
    import numpy as np
    import torch

    t_eval = time.time()
    model = cfg["model"]
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
    computed_ce = model in ("dfg", "delta") and cfg["channel_eval"] == "computed"
    extra = {"reported": reported, "final_accuracy": final_acc, "best_test_accuracy": st["best_acc"],
             "best_step": st["best_step"], "train_wall_time_s": st.get("elapsed"),
             "accuracies": selection.accuracies(best=st["best_acc"], best_step=st["best_step"], final=final_acc,
                                                late=late, window=LATE_WINDOW),
             "source_network": r.source_info(), "channel_eval_split_id": r.ce_split.split_id if computed_ce else None,
             "channel_eval": r.load_channel_eval().get("source", "computed") if model in ("dfg", "delta") else None,
             "minority_classes": (split.manifest.get("dfg") or {}).get("minority_classes"),
             "attention_updates": st.get("attention_updates", []), "model": model}
    return records.make_result(method="dfg", framework=records.framework_version("torch"), split=split, seed=seed,
                               budget=budget, device=records.describe_device(gpus),
                               wall_time_s=stage_seconds(r, model) + float(st.get("elapsed") or 0.0)
                               + (time.time() - t_eval), metrics=m, config=r.run.config, variant=variant,
                               paper_method=paper_method, extra=extra)
