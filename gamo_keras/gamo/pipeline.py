"""One run from a split to a run folder: prepare the data, train (resuming), score with ``shared_data``,
write predictions, result and pictures. Also the GAMO2pix stage on a finished run."""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from . import data as gdata
from .config import GamoConfig


def prepare_split(cfg: GamoConfig, split, seed: int) -> gdata.Prepared:
    """The split as the original main scripts saw it. For the ``gamo`` protocol the GAMO-layout CSVs of the
    split folder are read (the files the original loads) and checked against the NPZ arrays."""
    x_tr, y_tr, x_te, y_te = split.x_train, split.y_train, split.x_test, split.y_test
    if split.protocol == "gamo" and split.path is not None and (Path(split.path) / "train.csv").exists():
        shape = tuple(cfg.image_shape)
        cx_tr, cy_tr = gdata.read_gamo_csv(Path(split.path) / "train.csv", shape)
        cx_te, cy_te = gdata.read_gamo_csv(Path(split.path) / "test.csv", shape)
        if not (np.array_equal(cx_tr, x_tr) and np.array_equal(cy_tr, y_tr) and np.array_equal(cx_te, x_te)
                and np.array_equal(cy_te, y_te)):
            raise gdata.GamoDataError(f"{split.path}: train.csv/test.csv differ from the NPZ arrays; delete the "
                                      f"split folder to have it written again")
        x_tr, y_tr, x_te, y_te = cx_tr, cy_tr, cx_te, cy_te
    if tuple(x_tr.shape[1:]) != tuple(cfg.image_shape):
        raise gdata.GamoDataError(f"images have shape {x_tr.shape[1:]}, configs/{cfg.dataset}.py expects "
                                  f"{tuple(cfg.image_shape)}")
    shuffle_rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), 0])))
    return gdata.prepare(x_tr, y_tr, x_te, y_te, split.train_counts, flatten=cfg.variant == "dense",
                         transpose=cfg.fashion_transpose and cfg.dataset == "fashion", shuffle_rng=shuffle_rng,
                         require_minority=cfg.model == "gamo")


def _scalars(m: dict) -> dict:
    """The scalar metrics of ``shared_data.metrics.compute`` (per-class lists and class indices left out)."""
    return {k: v for k, v in m.items() if isinstance(v, float)}


def eval_records(run, split: str = "test") -> list[dict]:
    """The run's evaluation lines of one set, in order (metrics.jsonl also holds other kinds of line)."""
    return [r for r in run.read_metrics() if r.get("kind") == "eval" and r.get("split") == split]


def _scores(prob_new: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Softmax columns from relabelled to original label order (column ``order[new]`` <- ``new``)."""
    out = np.empty_like(prob_new)
    out[:, order] = prob_new
    return out


def train_and_score(cfg: GamoConfig, split, run, args, *, variant, paper_method: str | None, device: str,
                    framework: str) -> int:
    from shared_data import metrics, records

    from .train import Trainer

    t_start = time.perf_counter()
    prep = prepare_split(cfg, split, args.seed)
    counts = split.train_counts
    y_train_orig = gdata.to_original_labels(prep.y_train, prep.order)
    y_test_orig = np.asarray(split.y_test)
    trainer = Trainer(cfg, prep, args.seed, run.checkpoint_dir, progress=not args.no_progress)
    progress_path = run.path / "progress.json"
    done_before = 0.0
    if trainer.resume():
        step0 = trainer.iteration * cfg.step_increment
        run.truncate_metrics(lambda r: r.get("step", -1) < step0)
        if progress_path.exists():
            done_before = float(json.loads(progress_path.read_text()).get("train_seconds", 0.0))
    else:
        run.truncate_metrics(lambda r: False)
        trainer.init_state()
    t_train = time.perf_counter()
    it_start = trainer.iteration
    final = {}

    def on_eval(ev):
        pred_tr, pred_te = ev.train_prob.argmax(1), ev.test_prob.argmax(1)
        m_te = metrics.compute(y_test_orig, gdata.to_original_labels(pred_te, prep.order), train_counts=counts)
        m_tr = metrics.compute(y_train_orig, gdata.to_original_labels(pred_tr, prep.order), train_counts=counts)
        tpr_new = np.asarray(m_te["per_class_recall"])[prep.order]
        common = {"step": ev.step, "iteration": ev.step // cfg.step_increment,
                  "elapsed_s": round(done_before + time.perf_counter() - t_train, 2)}
        # both sets are evaluated, as the original does at every period (its Record.npz)
        run.log_eval(split="test", metrics=_scalars(m_te), per_class_recall=m_te["per_class_recall"],
                     tpr_relabelled=tpr_new.tolist(), **common)
        run.log_eval(split="train", metrics=_scalars(m_tr), per_class_recall=m_tr["per_class_recall"], **common)
        final.update(metrics=m_te, prob=ev.test_prob, step=ev.step)

    def on_save(iterations_done):
        from shared_data.records import atomic_write_json

        atomic_write_json(progress_path, {"iterations": iterations_done,
                                          "train_seconds": done_before + time.perf_counter() - t_train})

    finished = trainer.train(on_eval=on_eval, on_save=on_save, stop_after=args.stop_after)
    train_seconds = done_before + time.perf_counter() - t_train
    if not finished:
        print(f"stopped after iteration {trainer.iteration} (checkpoint saved); re-run the same command to resume")
        return 0
    iters = trainer.iteration - it_start
    ms_per_it = 1000.0 * (time.perf_counter() - t_train) / max(iters, 1)
    m = final["metrics"]
    prob = _scores(final["prob"], prep.order)
    run.save_predictions(y_true=y_test_orig, y_pred=prob.argmax(1), scores=prob, label_order_relabelled=prep.order,
                         train_shuffle=prep.shuffle)
    pictures = write_pictures(cfg, trainer, prep, run, m)
    extra = {
        "model": cfg.model, "iterations": trainer.schedule.total_iterations, "max_step": cfg.max_step,
        "train_seconds": round(train_seconds, 1), "ms_per_iteration_this_attempt": round(ms_per_it, 2),
        "relabel_order": prep.order.tolist(), "minority_classes_relabelled": prep.minority,
        "fake_label_probabilities": gdata.fake_label_probabilities(prep.to_balance).tolist() if prep.minority else [],
        "test_tpr_relabelled": np.asarray(m["per_class_recall"])[prep.order].tolist(),
        "reported_model": "final (Results.npz of the original); the trajectory is in metrics.jsonl",
        "pictures": pictures,
    }
    result = records.make_result(method="gamo", framework=framework, split=split, seed=args.seed, budget=cfg.budget,
                                 device=device, wall_time_s=time.perf_counter() - t_start + done_before,
                                 metrics=m, config=run.config, variant=variant, paper_method=paper_method,
                                 extra=extra)
    run.write_result(result)
    print(f"{run.path}: ACSA {m['acsa']:.4f}  GM {m['gm_gamo']:.4f}  accuracy {m['accuracy']:.4f}  "
          f"({train_seconds:.0f} s training, {ms_per_it:.1f} ms/iteration)")
    return 0


# -- pictures --------------------------------------------------------------------------------------------------

def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_pictures(cfg, trainer, prep, run, m) -> list[str]:
    plt = _plt()
    out = []
    # per-class recall (original label order) with the training counts
    recall = np.asarray(m["per_class_recall"])
    counts = np.asarray(prep.counts)[np.argsort(prep.order)]  # counts in original label order
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.bar(np.arange(len(recall)), recall, color="tab:blue")
    ax.set_xticks(np.arange(len(recall)), [f"{c}\n(n={n})" for c, n in enumerate(counts)], fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel("test recall")
    ax.set_title(f"{cfg.model} {cfg.dataset}: ACSA {m['acsa']:.4f}, GM {m['gm_gamo']:.4f}", fontsize=9)
    fig.tight_layout()
    fig.savefig(run.path / "per_class_recall.png", dpi=110)
    plt.close(fig)
    out.append("per_class_recall.png")
    # learning curve from metrics.jsonl
    curves = {s: eval_records(run, s) for s in ("test", "train")}
    if curves["test"]:
        fig, ax = plt.subplots(figsize=(7, 3.2))
        for s, key, label in (("test", "acsa", "test ACSA"), ("test", "gm_gamo", "test GM"),
                              ("train", "acsa", "train ACSA")):
            ax.plot([r["step"] for r in curves[s]], [r["metrics"][key] for r in curves[s]], label=label)
        ax.set_xlabel("step (2 per GAMO iteration)")
        ax.set_ylim(0, 1)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(run.path / "curves.png", dpi=110)
        plt.close(fig)
        out.append("curves.png")
    # MNIST: generated samples are images already (the original's 9x3 grid of Pictures/)
    if cfg.model == "gamo" and cfg.variant == "dense" and prep.minority:
        rng = gdata.iteration_rng(trainer.seed, 0, stream=4)
        rows = []
        for k in range(len(prep.minority)):
            x, _ = trainer.sample(k, rng.standard_normal((3, cfg.latent_dim)).astype(np.float32))
            rows.append(x.reshape((3,) + tuple(cfg.image_shape)))
        save_grid(np.stack(rows), run.path / "samples.png", prep, "generated samples (rows: minority classes)")
        out.append("samples.png")
    return out


def save_grid(images, path, prep, title, row_labels=None):
    """``images``: (rows, cols, H, W, C) in [-1, 1]."""
    plt = _plt()
    r, c = images.shape[:2]
    fig, axes = plt.subplots(r, c, figsize=(c * 0.9 + 0.8, r * 0.9 + 0.4), squeeze=False)
    for i in range(r):
        for j in range(c):
            img = (images[i, j] + 1.0) / 2.0
            ax = axes[i, j]
            ax.imshow(img[..., 0] if img.shape[-1] == 1 else np.clip(img, 0, 1), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                label = row_labels[i] if row_labels else f"{int(prep.order[prep.minority[i]])}"
                ax.set_ylabel(label, fontsize=7)
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# -- GAMO2pix --------------------------------------------------------------------------------------------------

def gamo2pix_stage(cfg: GamoConfig, split, run, args) -> int:
    from . import gamo2pix
    from .train import Trainer

    if cfg.variant != "conv":
        raise ValueError(f"GAMO2pix maps generated features back to images; {cfg.dataset} uses the pixel-space "
                         f"variant, whose samples are images already (see samples.png)")
    if not run.is_complete():
        raise ValueError(f"{run.path} has no result.json: run the GAMO stage (same command without --stage) first")
    prep = prepare_split(cfg, split, args.seed)
    trainer = Trainer(cfg, prep, args.seed, run.checkpoint_dir, progress=False)
    if not trainer.resume():
        raise ValueError(f"{run.path}/checkpoints holds no final GAMO state")
    trainer.refresh_features()
    return gamo2pix.run_stage(cfg, trainer, prep, run, args)
