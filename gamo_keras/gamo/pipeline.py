"""One run from a split to a run folder: prepare the data, train (resuming), score with ``shared_data``,
write predictions and pictures, and return the result record (``run.py``'s skeleton writes it). Also the
GAMO2pix stage on a finished run."""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from shared_data.errors import RunFolderError, RunStopped

from . import data as gdata
from .config import GamoConfig
from .pictures import write_pictures


class StageError(RunFolderError):
    """The GAMO2pix stage's input (a finished GAMO run with its final state) is missing."""


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


def _scores(prob_new: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Softmax columns from relabelled to original label order (column ``order[new]`` <- ``new``)."""
    out = np.empty_like(prob_new)
    out[:, order] = prob_new
    return out


def train_and_score(cfg: GamoConfig, split, run, seed: int, *, progress: bool, stop_after: int | None, variant,
                    paper_method: str | None, device: str, framework: str) -> tuple[dict, str]:
    """Train (resuming from the run folder's checkpoint), score and write predictions and pictures; return the
    result record and a note on the training time. A ``stop_after`` reached before the end raises RunStopped."""
    from shared_data import metrics, records

    from .train import Trainer

    t_start = time.perf_counter()
    prep = prepare_split(cfg, split, seed)
    counts = split.train_counts
    y_train_orig = gdata.to_original_labels(prep.y_train, prep.order)
    y_test_orig = np.asarray(split.y_test)
    trainer = Trainer(cfg, prep, seed, run.checkpoint_dir, progress=progress)
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
        records.atomic_write_json(progress_path, {"iterations": iterations_done,
                                                  "train_seconds": done_before + time.perf_counter() - t_train})

    finished = trainer.train(on_eval=on_eval, on_save=on_save, stop_after=stop_after)
    train_seconds = done_before + time.perf_counter() - t_train
    if not finished:
        raise RunStopped(f"stopped after iteration {trainer.iteration} (checkpoint saved)")
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
    result = records.make_result(method="gamo", framework=framework, split=split, seed=seed, budget=cfg.budget,
                                 device=device, wall_time_s=time.perf_counter() - t_start + done_before,
                                 metrics=m, config=run.config, variant=variant, paper_method=paper_method,
                                 extra=extra)
    return result, f"({train_seconds:.0f} s training, {ms_per_it:.1f} ms/iteration)"


# -- GAMO2pix --------------------------------------------------------------------------------------------------

def gamo2pix_stage(cfg: GamoConfig, split, run, seed: int, out: Path, progress: bool) -> list[str]:
    """Per-class decoders from generated features to images, for the finished GAMO run in ``run``; their
    checkpoints and pictures go to ``out``. Returns the pictures written (paths relative to the run folder)."""
    from . import gamo2pix
    from .train import Trainer

    if not run.is_complete():
        raise StageError(f"{run.path} has no result.json: run the GAMO stage (same command without --stage) first")
    prep = prepare_split(cfg, split, seed)
    trainer = Trainer(cfg, prep, seed, run.checkpoint_dir, progress=False)
    if not trainer.resume():
        raise StageError(f"{run.path}/checkpoints holds no final GAMO state")
    trainer.refresh_features()
    written = gamo2pix.run_stage(cfg, trainer, prep, out, seed, progress=progress)
    return [str(Path(p).relative_to(run.path)) for p in written]
