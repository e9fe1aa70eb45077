"""The original's training loop (``CaLeG.train``, ``caleg.py`` L266-372 of anonymous184/CaLeG@096caad):
encoder pretraining, the joint-autoencoder warm-up, class-Gaussian refits, the three-execution phase 2.

``Trainer(cfg, split, run, seed, variant=...).train()`` trains one model on one split into one run folder and
returns its ``result.json`` record (the caller writes it). Re-running the same command resumes from the last epoch
checkpoint.
"""
from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from shared_data import errors, records
from shared_data import metrics as sd_metrics

from . import gaussians, ops, plots
from .graph import CaLeGGraph
from .tfcompat import tf

STATE_FILE = "state.json"
CHECKPOINT_PREFIX = "caleg"
KEEP_CHECKPOINTS = 2
# Which execution of a step a seed is for (execution_seed): the warm-up step, the encoder step of phase 2 and
# the pretraining steps use 0; the decoder step 1; the discriminator step 2; evaluation batches 3.
PART_TRAIN, PART_DEC, PART_DISC, PART_EVAL = 0, 1, 2, 3
VAL_BATCH_OFFSET = 2 ** 19  # evaluation batch numbers of the validation set start here


class Interrupted(errors.RunStopped):
    """The run stopped at the epoch checkpoint ``stop_after_epoch`` asked for; the same command resumes it."""


def device_name() -> str:
    gpus = tf.config.list_physical_devices("GPU")
    names = [tf.config.experimental.get_device_details(g).get("device_name", g.name) for g in gpus]
    return records.describe_device(names or None)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def legacy_numpy_rng(split_seed: int, n_train: int) -> np.random.RandomState:
    """The original's global numpy RNG as its loader leaves it: seeded with s, the last call a permutation of
    the subset (its final shuffle). Pretraining batches, prior samples and refit pictures continue from here."""
    rng = np.random.RandomState(split_seed)
    rng.permutation(n_train)
    return rng


def holdout(split, fraction: float, seed: int):
    """Fix ``val_fraction``: a stratified part of the training subset held out for epoch selection; the rest
    keeps the fixed order."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(split.y_train))
    tr, va = train_test_split(idx, test_size=fraction, stratify=split.y_train, random_state=seed)
    tr, va = np.sort(tr), np.sort(va)
    return (split.x_train[tr], split.y_train[tr]), (split.x_train[va], split.y_train[va])


def execution_seed(seed: int, epoch: int, step: int, part: int) -> np.ndarray:
    """The seed fed to one ``session.run`` (the graph's stateless random ops add their op number to the first
    word): a function of the run seed and the position in the run only, so a resumed run draws what an
    uninterrupted one draws. ``epoch`` -1 is the pretraining."""
    return np.array([seed * ops.MAX_RANDOM_OPS, ((epoch + 1) * 2 ** 20 + step) * 4 + part], dtype=np.int64)


class Trainer:
    def __init__(self, cfg: dict, split, run: records.RunDir, seed: int, progress: bool = True,
                 stop_after_epoch: int | None = None, variant=None, paper_method: str | None = None):
        """``variant`` (a ``shared_data.variants.Variant``) and ``paper_method`` name the run in its result."""
        self.cfg, self.split, self.run, self.seed = cfg, split, run, seed
        self.progress, self.stop_after_epoch = progress, stop_after_epoch
        self.variant, self.paper_method = variant, paper_method
        if cfg["val_fraction"] > 0:
            (self.x_train, self.y_train), (self.x_val, self.y_val) = holdout(split, cfg["val_fraction"], seed)
        else:
            self.x_train, self.y_train = split.x_train, split.y_train
            self.x_val = self.y_val = None
        self.num_classes = cfg["num_classes"]
        self.train_counts = np.bincount(self.y_train, minlength=self.num_classes).tolist()
        self.n = len(self.y_train)
        self.batch = cfg["batch_size"]
        self.n_batches = math.ceil(self.n / self.batch)
        self.weights = gaussians.class_weights(self.train_counts)
        self._y_gen = {}
        self.x_test, self.y_test = split.x_test, split.y_test  # the smoke budget's cut is the split's own
        self.started = False  # True once the session exists (entry.py removes a fresh folder of a failed start)
        if cfg["aug_rate"] > 0:  # a rate that generates nothing for some batch is refused before anything trains
            for b in {self.batch, self.n % self.batch or self.batch}:
                self.y_gen(b)
        if cfg["report_epoch"] is not None and not 1 <= cfg["report_epoch"] <= cfg["epochs"]:
            raise errors.ConfigError(f"--report-epoch {cfg['report_epoch']} is outside 1..{cfg['epochs']} (the "
                                     f"epochs of this budget)")

    # -- schedule --------------------------------------------------------------------------------------
    def steps_in_epoch(self, epoch: int) -> int:
        cfg = self.cfg
        phase2 = epoch >= cfg["refit_every"]
        steps = cfg["phase2_steps_per_epoch"] if phase2 and cfg["phase2_steps_per_epoch"] else cfg["steps_per_epoch"]
        return steps or self.n_batches

    def epoch_batches(self, epoch: int):
        """Index vectors of the epoch's batches: consecutive slices of the fixed order (fix
        ``reshuffle_each_epoch``: a new order between epochs, so the first epoch keeps the loader's order, as
        the faithful run's does). A budget with fewer steps than a pass continues where the previous epoch
        stopped, cyclically."""
        order = np.arange(self.n, dtype=np.int32)
        if self.cfg["reshuffle_each_epoch"] and epoch > 0:
            order = np.random.RandomState([self.seed, epoch]).permutation(self.n).astype(np.int32)
        start = sum(self.steps_in_epoch(e) for e in range(epoch))
        for i in range(self.steps_in_epoch(epoch)):
            b = (start + i) % self.n_batches
            yield order[b * self.batch:(b + 1) * self.batch]

    def lr_at(self, epoch: int) -> float:
        if self.cfg["lr_schedule"] == "manual_smooth":
            return self.cfg["lr"] * 100.0 ** (-(epoch + 1) / self.cfg["epochs"])
        return self.cfg["lr"]

    def y_gen(self, b: int) -> np.ndarray:
        if b not in self._y_gen:
            self._y_gen[b] = gaussians.generation_labels(
                gaussians.generation_counts(b, self.cfg["aug_rate"], self.weights))
            if len(self._y_gen[b]) == 0:
                raise errors.ConfigError(f"aug rate {self.cfg['aug_rate']} generates no code for a batch of {b}")
        return self._y_gen[b]

    # -- one run -----------------------------------------------------------------------------------------
    def train(self) -> dict:
        """Train (or resume) the run and return its result record; ``Interrupted`` at ``stop_after_epoch``."""
        cfg = self.cfg
        state = self._read_state()
        start_epoch = state["epoch"] + 1 if state else 0
        # The graph seed sets the initial weights only (a resumed run restores them); every random op of a step
        # is stateless and seeded from the step's position (execution_seed), so a resumed run draws the same.
        self.g = g = CaLeGGraph(cfg, self.x_train, self.y_train, seed=self.seed)
        self.rng = legacy_numpy_rng(self.split.split_seed, len(self.split.y_train))
        sess = self.sess = tf.Session(graph=g.graph)
        self.started = True
        with g.graph.as_default():
            sess.run(g.init)
            sess.run(g.local_init, {g.x_train_ph: self.x_train, g.y_train_ph: self.y_train.astype(np.int32)})
            t_start = time.time()
            if state:
                try:
                    g.saver.restore(sess, str(self.run.checkpoint_dir / state["checkpoint"]))
                except (tf.errors.OpError, ValueError) as exc:
                    raise records.RunError(f"{self.run.checkpoint_dir / state['checkpoint']}: cannot restore (damaged "
                                           f"or incomplete checkpoint files); delete {self.run.checkpoint_dir} to "
                                           f"restart the run") from exc
                self.rng.set_state(tuple(state["rng_state"]))
                self.fit = self._load_fit(state["last_fit_epoch"])
                elapsed = state["elapsed_s"]
                self.run.truncate_metrics(lambda r: r.get("epoch", -1) < start_epoch)
                self._prune_checkpoints({state["epoch"]})  # what a kill during a later save left
                print(f"resuming {self.run.path} after epoch {state['epoch']}")
            else:
                self.run.truncate_metrics(lambda r: False)
                self._prune_checkpoints(set())
                self.fit, elapsed = None, 0.0
                if cfg["e_pretrain"]:
                    self._pretrain()
            for epoch in range(start_epoch, cfg["epochs"]):
                self._epoch(epoch)
                if (epoch + 1) % cfg["refit_every"] == 0:
                    self._refit(epoch)
                self._checkpoint(epoch, elapsed + time.time() - t_start)
                if self.stop_after_epoch is not None and epoch + 1 >= self.stop_after_epoch \
                        and epoch + 1 < cfg["epochs"]:
                    sess.close()
                    raise Interrupted(f"stopped after epoch {epoch + 1} of {cfg['epochs']} as asked")
            wall = elapsed + time.time() - t_start
        sess.close()
        return self._finish(wall)

    def _pretrain(self):
        cfg, g = self.cfg, self.g
        size = min(self.n, cfg["e_pretrain_sample_size"])
        loss = float("nan")
        for step in range(cfg["e_pretrain_steps"]):
            idx = self.rng.choice(self.n, size, replace=False).astype(np.int32)
            pz = self.rng.multivariate_normal(np.zeros(cfg["zdim"]), np.eye(cfg["zdim"]), size)
            _, loss = self.sess.run([g.train_pre, g.loss_pre], {g.pre_idx: idx, g.pre_pz: pz,
                                                                g.step_seed: self._seed(-1, step, PART_TRAIN)})
            if loss < cfg["e_pretrain_stop_loss"]:
                break
        self.pretrain_log = {"pretrain_steps": step + 1, "pretrain_loss": float(loss)}

    def _epoch(self, epoch: int):
        cfg, g, sess = self.cfg, self.g, self.sess
        sess.run(g.set_lr, {g.lr_ph: self.lr_at(epoch)})
        phase2 = self.fit is not None
        codes, labels, gen_codes, gen_labels = [], [], [], []
        sums = {}  # only what this phase measures: the warm-up has no G, D or critic loss
        n_accepted = 0
        n_steps = self.steps_in_epoch(epoch)
        t0 = time.time()
        bar = tqdm(self.epoch_batches(epoch), total=n_steps, desc=f"epoch {epoch + 1}/{cfg['epochs']}"
                   f" ({'phase 2' if phase2 else 'warm-up'})", disable=not self.progress, leave=False)
        for step, idx in enumerate(bar):
            y = self.y_train[idx]
            if not phase2:
                feed = {g.batch_idx: idx, g.step_seed: self._seed(epoch, step, PART_TRAIN)}
                _, z, rec, mmd, ce, enc, acc = sess.run([g.train_ae, g.z, g.loss_rec, g.loss_mmd, g.loss_ce,
                                                         g.loss_ae, g.train_acc], feed)
                if g.aug:  # unused prior draw of the original: consumes the numpy stream only
                    self.rng.multivariate_normal(np.zeros(cfg["zdim"]), np.eye(cfg["zdim"]), len(idx))
                vals = {"rec": rec, "mmd": mmd, "ce": ce, "enc": enc, "train_acc": acc}
            else:
                y_gen = self.y_gen(len(idx)) if g.aug else None
                out = g.phase2_step(sess, idx, y_gen, {"enc": self._seed(epoch, step, PART_TRAIN),
                                                       "dec": self._seed(epoch, step, PART_DEC),
                                                       "disc": self._seed(epoch, step, PART_DISC)})
                z = out["z"]
                if g.aug:
                    ok = out["accepted"]
                    n_accepted += int(ok.sum())
                    if not cfg["refit_real_only"]:
                        gen_codes.append(out["z_gen"][ok])
                        gen_labels.append(y_gen[ok])
                vals = {k: out[k] for k in ("rec", "mmd", "ce", "enc", "dec", "disc", "critic", "gp", "train_acc")}
            for k, v in vals.items():
                sums[k] = sums.get(k, 0.0) + float(v)
            codes.append(z)
            labels.append(y)
        dt = time.time() - t0
        self.epoch_codes = (np.concatenate(codes), np.concatenate(labels),
                            np.concatenate(gen_codes) if gen_codes else np.zeros((0, cfg["zdim"])),
                            np.concatenate(gen_labels) if gen_labels else np.zeros(0, np.int64))
        record = {"epoch": epoch, "phase": 2 if phase2 else 1, "steps": n_steps, "lr": self.lr_at(epoch),
                  "epoch_time_s": dt, "s_per_step": dt / n_steps,
                  "train_images_per_s": n_steps * self.batch / dt,
                  **{k if k == "train_acc" else f"loss_{k}": v / n_steps for k, v in sums.items()},
                  # accepted: D's class head agreed with the code's class; pooled: kept for the next refit
                  "accepted_generated": n_accepted, "pooled_generated": int(len(self.epoch_codes[3]))}
        if hasattr(self, "pretrain_log") and epoch == 0:
            record.update(self.pretrain_log)
        self.run.log_metrics(record)
        # The original evaluates the test set after every epoch (caleg.py L355); so does the port, and the
        # report rule (_finish) picks one epoch's record afterwards.
        logits = self._predict(self.x_test, epoch)
        pred = logits.argmax(1)
        m = sd_metrics.compute(self.y_test, pred, train_counts=self.split.train_counts,
                               num_classes=self.num_classes)
        records.atomic_save_npz(self.run.path / "epochs" / f"epoch{epoch:03d}.npz", y_pred=pred.astype(np.int16),
                                logits=logits.astype(np.float32))
        self.run.log_eval(split="test", metrics={k: m[k] for k in sd_metrics.SCALAR_METRICS}, epoch=epoch,
                          phase=record["phase"], per_class_recall=m["per_class_recall"])
        if self.x_val is not None:
            mv = sd_metrics.compute(self.y_val, self._predict(self.x_val, epoch, VAL_BATCH_OFFSET).argmax(1),
                                    train_counts=self.train_counts, num_classes=self.num_classes)
            self.run.log_eval(split="val", metrics={k: mv[k] for k in sd_metrics.SCALAR_METRICS}, epoch=epoch,
                              phase=record["phase"])
        if self.progress:
            tqdm.write(f"epoch {epoch + 1}: {dt:.0f}s, {record['s_per_step']:.2f} s/step, "
                       f"test {sd_metrics.summary_line(m)}")

    def _seed(self, epoch: int, step: int, part: int) -> np.ndarray:
        return execution_seed(self.seed, epoch, step, part)

    def _predict(self, x: np.ndarray, epoch: int, first_batch: int = 0) -> np.ndarray:
        """C's logits in batches; the evaluation noise of batch i is seeded from (epoch, first_batch + i)."""
        bs, g = self.cfg["eval_batch_size"], self.g
        return np.concatenate([self.sess.run(g.eval_logits, {g.x_eval: x[i:i + bs],
                                                            g.step_seed: self._seed(epoch, first_batch + i // bs,
                                                                                    PART_EVAL)})
                               for i in range(0, len(x), bs)])

    def _refit(self, epoch: int):
        cfg, g = self.cfg, self.g
        z, y, zg, yg = self.epoch_codes
        pool_z, pool_y = np.concatenate([z, zg]), np.concatenate([y, yg])
        prev = (self.fit["means"], self.fit["covs"]) if self.fit else None
        means, covs, counts = gaussians.fit(pool_z, pool_y, self.num_classes, previous=prev)
        factor = gaussians.sampling_factor(covs, cfg["cov_ridge"])
        self.sess.run(g.set_gauss, {g.g_mean_ph: means.astype(np.float32), g.g_factor_ph: factor.astype(np.float32)})
        self.fit = {"epoch": epoch, "means": means, "covs": covs, "counts": counts}
        records.atomic_save_npz(self.run.path / "refits" / f"epoch{epoch:03d}.npz", means=means, covariances=covs,
                                pool_counts=counts, real_counts=np.bincount(y, minlength=self.num_classes))
        # The original's img_from_z_dist_<e>.png: 10 numpy draws per class, decoded in inference mode.
        vis = np.concatenate([self.rng.multivariate_normal(means[c], covs[c], 10) for c in range(self.num_classes)])
        images = self.sess.run(g.x_vis, {g.z_vis: vis.astype(np.float32)})
        plots.sample_grid(images, self.run.path / "samples" / f"img_from_z_dist_{epoch:03d}.png",
                          title=f"decoded class-Gaussian samples after epoch {epoch + 1} (row = class)")

    def _load_fit(self, epoch):
        if epoch is None:
            return None
        path = self.run.path / "refits" / f"epoch{epoch:03d}.npz"
        try:
            with np.load(path, allow_pickle=False) as f:
                return {"epoch": epoch, "means": f["means"], "covs": f["covariances"], "counts": f["pool_counts"]}
        except Exception as exc:  # missing, truncated (BadZipFile, EOFError), a key or dtype it should not hold
            raise records.RunError(f"{path}: unreadable class-Gaussian fit of the checkpoint (missing, truncated or "
                                   f"holding other arrays); delete {self.run.checkpoint_dir} to restart the "
                                   f"run") from exc

    # -- checkpoints -------------------------------------------------------------------------------------
    def _checkpoint(self, epoch: int, elapsed: float):
        prefix = self.g.saver.save(self.sess, str(self.run.checkpoint_dir / CHECKPOINT_PREFIX), global_step=epoch,
                                   write_meta_graph=False)
        st = self.rng.get_state()
        state = {"epoch": epoch, "checkpoint": Path(prefix).name, "elapsed_s": elapsed,
                 "last_fit_epoch": self.fit["epoch"] if self.fit else None,
                 "rng_state": [st[0], st[1].tolist(), int(st[2]), int(st[3]), float(st[4])]}
        records.atomic_write_json(self.run.checkpoint_dir / STATE_FILE, state)
        self._prune_checkpoints(set(range(epoch - KEEP_CHECKPOINTS + 1, epoch + 1)))

    def _prune_checkpoints(self, keep: set[int]) -> None:
        """Delete every checkpoint file but those of the epochs in ``keep``, and what a save killed half-way
        left (TensorFlow's ``*_temp`` folders and ``*.tempstate*`` files). Runs after state.json names the
        newest, so a kill at any point leaves the checkpoint it names; the keeper holds across resumes (the
        saver itself keeps everything)."""
        import re
        import shutil

        whole = re.compile(rf"{CHECKPOINT_PREFIX}-(\d+)\.(index|data-\d+-of-\d+)")
        for p in self.run.checkpoint_dir.glob(f"{CHECKPOINT_PREFIX}-*"):
            m = whole.fullmatch(p.name)
            if m and p.is_file() and int(m.group(1)) in keep:
                continue
            shutil.rmtree(p) if p.is_dir() else p.unlink()

    def _read_state(self):
        p = self.run.checkpoint_dir / STATE_FILE
        if not p.exists():
            return None
        try:
            state = json.loads(p.read_text())
            state["rng_state"][1] = np.asarray(state["rng_state"][1], dtype=np.uint32)
            if not Path(str(self.run.checkpoint_dir / state["checkpoint"]) + ".index").exists():
                raise FileNotFoundError(state["checkpoint"])
        except (OSError, ValueError, KeyError, IndexError) as exc:
            raise records.RunError(f"{p}: unreadable checkpoint state ({exc}); delete {self.run.checkpoint_dir} "
                                   f"to restart the run") from exc
        return state

    # -- result ------------------------------------------------------------------------------------------
    def _finish(self, wall: float) -> dict:
        cfg = self.cfg
        train_log, evals = split_log(self.run.read_metrics())
        if cfg["val_fraction"] > 0:
            val = evals.get("val", [])
            best = max(val, key=lambda r: (r["metrics"]["acsa"], -r["epoch"]))  # first epoch with the best ACSA
            chosen, how = best["epoch"], "best validation ACSA"
        elif cfg["report_epoch"]:
            chosen, how = int(cfg["report_epoch"]) - 1, "report_epoch"
            if not 0 <= chosen < len(train_log):
                raise errors.ConfigError(f"report_epoch {cfg['report_epoch']} is outside 1..{len(train_log)}")
        else:
            chosen, how = train_log[-1]["epoch"], "last epoch (faithful)"
        with np.load(self.run.path / "epochs" / f"epoch{chosen:03d}.npz", allow_pickle=False) as f:
            pred, logits = f["y_pred"].astype(np.int64), f["logits"]
        probs = softmax(logits)  # the original's hdf5 `probability` held C's raw logits; both are kept
        m = sd_metrics.compute(self.y_test, pred, scores=probs, train_counts=self.split.train_counts,
                               num_classes=self.num_classes)
        self.run.save_predictions(y_true=self.y_test, y_pred=pred, scores=probs, logits=logits,
                                  epoch=np.int64(chosen))
        plots.per_class_recall(m["per_class_recall"], self.split.train_counts, self.run.path / "per_class_recall.png",
                               title=f"CaLeG {self.split.dataset}, epoch {chosen + 1}: ACSA {m['acsa']:.4f}")
        plots.training_curves(train_log, evals.get("test", []), self.run.path / "curves.png")
        phase1 = [r for r in train_log if r["phase"] == 1]
        phase2 = [r for r in train_log if r["phase"] == 2]
        extra = {"reported_epoch": chosen + 1, "report_rule": how, "epochs_run": len(train_log),
                 "s_per_step_phase1": float(np.mean([r["s_per_step"] for r in phase1] or [np.nan])),
                 "s_per_iteration_phase2": float(np.mean([r["s_per_step"] for r in phase2] or [np.nan])),
                 "parameter_counts": self.g.parameter_counts(),
                 # the intra-op count sets the summation order: runs pair digit for digit only at equal counts
                 "tf_threads": {"intra_op": os.environ.get("TF_NUM_INTRAOP_THREADS", "default (one per core)"),
                                "inter_op": os.environ.get("TF_NUM_INTEROP_THREADS", "default")}}
        result = records.make_result(method="caleg", framework=framework_name(), split=self.split, seed=self.seed,
                                     budget=cfg["budget"], device=device_name(), wall_time_s=wall, metrics=m,
                                     config=cfg, variant=self.variant, paper_method=self.paper_method, extra=extra)
        return result


def framework_name() -> str:
    return records.framework_version("tensorflow") + " (tf.compat.v1 graph)"


def split_log(log: list[dict]):
    """metrics.jsonl's training lines (one per epoch) and its evaluation lines by split ({"test": [...]})."""
    train, evals = [], {}
    for r in log:
        if r.get("kind") == "eval":
            evals.setdefault(r["split"], []).append(r)
        else:
            train.append(r)
    return train, evals
