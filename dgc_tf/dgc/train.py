"""The training loop of DGC (the original's `dgc.py` L239-432): pretraining, per batch LVO -> main step ->
latent oversampling, the scheduled evaluations, checkpoints every ``save_every_epoch`` epochs and resume.

Seeding and resuming: the split seed only chooses the imbalanced subset (``shared_data``). The training seed
(``--seed``) sets the TensorFlow graph seed (initialisation) and keys every other draw: the numpy generators of
the prior samples and pretraining batches are re-derived from (seed, epoch), and the graph's noise
(reparameterisation, oversampled codes, prediction) comes from stateless ops keyed by (seed, stage, epoch, step)
(``model.rng_key``). A checkpoint holds every variable (weights, batch-norm moving averages, the Adam moments
and step counters of every optimiser) and ``state.json`` the position (epoch, step) and the epoch's running
sums; so a run resumed from any checkpoint repeats exactly the computations of an uninterrupted run.

Ctrl-C or SIGTERM during the training steps finishes the current step, saves a checkpoint at that step and
stops with KeyboardInterrupt (a second signal stops at once); during pretraining or an evaluation it stops at
once, and the re-run resumes from the last checkpoint. ``fit(stop_after=N)`` stops at the first checkpoint at or
after epoch N with ``shared_data.errors.RunStopped``. A checkpoint that cannot be restored is a
``shared_data.errors.RunFolderError``.
"""
from __future__ import annotations

import json
import math
import re
import signal
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from shared_data import errors, records
from shared_data import metrics as sd_metrics

from . import model as dgc_model
from . import oversample, schedules
from .tfcompat import tf

CKPT_PREFIX = "dgc"
STATE_FILE = "state.json"
# dgc-<epochs done> at an epoch's end, dgc-<epochs done>-<steps done> inside an epoch (a stop on a signal)
CKPT_NAME = re.compile(rf"^{CKPT_PREFIX}-(\d+)(?:-(\d+))?\.(?:index|data-\d+-of-\d+|meta)")
SUMS = ("loss", "recon", "mmd", "ce", "aug_ce", "aug_codes", "acc")


def device() -> str:
    """``records.describe_device`` with TensorFlow's visible GPUs (none: the CPU)."""
    gpus = tf.config.list_physical_devices("GPU")
    names = [tf.config.experimental.get_device_details(g).get("device_name", g.name) for g in gpus]
    return records.describe_device(names or None)


def framework() -> str:
    return f"{records.framework_version('tensorflow')} (tf.compat.v1 graph)"


def scalar_metrics(m: dict) -> dict:
    """The scalar scores of a ``shared_data.metrics.compute`` dict (no lists, no class indices)."""
    return {k: v for k, v in m.items() if isinstance(v, float)}


class Trainer:
    def __init__(self, cfg: dict, split, run: records.RunDir, seed: int, progress: bool = True, log=print):
        self.cfg, self.split, self.run, self.seed = cfg, split, run, int(seed)
        self.progress, self.log = progress, log
        self.x_train = split.x_train.astype(np.float32) / 255.0  # ToTensor(): [0, 1], NHWC
        self.y_train = split.y_train.astype(np.int64)
        # the test arrays as the split gives them (a quick or smoke budget's per-class subset is cut there)
        self.x_test = split.x_test.astype(np.float32) / 255.0
        self.y_test = split.y_test.astype(np.int64)
        if list(self.x_train.shape[1:]) != list(cfg["input_shape"]):
            raise ValueError(f"data shape {self.x_train.shape[1:]} != config input_shape {cfg['input_shape']}")
        n_cls = int(cfg["n_classes"])
        counts = np.bincount(self.y_train, minlength=n_cls)
        if len(counts) != n_cls or counts.min() == 0:
            raise ValueError(f"training counts {counts.tolist()} do not cover the {n_cls} classes of the config")
        self.copies = oversample.copies_per_sample(split.train_counts, cfg["aug_rate"], cfg["aug_count_rule"])
        self.eval_epochs = schedules.eval_epochs(cfg["eval_strategy"], cfg["epoch_num"])
        bs = int(cfg["batch_size"])
        # the original's ceil (dgc.py L324): a last, shorter batch is trained on too
        self.steps = math.ceil(len(self.x_train) / bs)
        if cfg["steps_per_epoch"]:
            self.steps = min(self.steps, int(cfg["steps_per_epoch"]))
        if self.steps < 1:
            raise ValueError("the split has no training images")

        tf.reset_default_graph()
        tf.set_random_seed(self.seed)
        self.g = dgc_model.DGCGraph(cfg, split.train_counts, (None,) + self.x_train.shape[1:], seed=self.seed)
        # The keeper below deletes old checkpoints (the Saver's own list forgets those of earlier attempts).
        self.saver = tf.train.Saver(max_to_keep=None)
        self.sess = tf.Session()
        self.sess.run(self.g.init_op)
        self.g.load_data(self.sess, self.x_train, self.y_train)
        self.state = {"epochs_done": -1, "step": 0, "sums": None, "wall_time_s": 0.0, "pretrain": None}
        self._stop_requested = False  # a signal arrived during the training steps
        self._defer_stop = False  # True while a signal only sets _stop_requested

    # -- checkpoints --------------------------------------------------------------------------------------
    @property
    def ckpt_dir(self) -> Path:
        return self.run.checkpoint_dir

    def save(self, epochs_done: int, wall: float, step: int = 0, sums: dict | None = None) -> None:
        """Checkpoint after ``epochs_done`` epochs and ``step`` steps of the next one (0: an epoch's end)."""
        self.state.update(epochs_done=int(epochs_done), step=int(step), sums=sums, wall_time_s=float(wall))
        name = f"{CKPT_PREFIX}-{int(epochs_done)}" + (f"-{int(step)}" if step else "")
        path = self.saver.save(self.sess, str(self.ckpt_dir / name), write_meta_graph=False, write_state=False)
        self.state["checkpoint"] = Path(path).name
        records.atomic_write_json(self.ckpt_dir / STATE_FILE, self.state)
        self.prune_checkpoints()

    def prune_checkpoints(self) -> list[Path]:
        """Keep the ``keep_checkpoints`` newest checkpoints up to the one ``state.json`` names, whichever attempt
        wrote them; delete the older ones and any newer one (a killed attempt's, written before its state)."""
        current = _ckpt_position(self.state["checkpoint"])
        found = {}
        for p in self.ckpt_dir.iterdir():
            m = CKPT_NAME.match(p.name)
            if m:
                found.setdefault((int(m.group(1)), int(m.group(2) or 0)), []).append(p)
        keep = sorted((k for k in found if k <= current), reverse=True)[:int(self.cfg["keep_checkpoints"])]
        removed = []
        for k, paths in found.items():
            if k not in keep:
                for p in paths:
                    p.unlink(missing_ok=True)
                    removed.append(p)
        return removed

    def _remove_leftovers(self) -> None:
        """What a killed attempt left half-written: TensorFlow's temporary checkpoint files, the Saver's own
        state file of older versions, orphan temporary files of the predictions."""
        for p in self.ckpt_dir.glob("*"):
            if ".tempstate" in p.name or p.name.endswith("_temp") or "_temp/" in p.name:
                if p.is_dir():
                    import shutil

                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)
        if (self.run.path / "predictions").is_dir():
            records.remove_orphans(self.run.path / "predictions")

    def restore(self) -> bool:
        self._remove_leftovers()
        state_path = self.ckpt_dir / STATE_FILE
        if not state_path.exists():
            self.run.truncate_metrics(lambda r: False)  # records of an attempt that never reached a checkpoint
            return False
        state = json.loads(state_path.read_text())
        state.setdefault("step", 0)
        state.setdefault("sums", None)
        ckpt = self.ckpt_dir / state["checkpoint"]
        try:
            self.saver.restore(self.sess, str(ckpt))
        except (tf.errors.OpError, ValueError):  # missing, truncated (OutOfRange) or corrupt (DataLoss)
            raise errors.RunFolderError(f"cannot restore checkpoint {ckpt} (missing, truncated or corrupt); "
                                        f"delete {self.run.path} to start again") from None
        self.state = state
        done = state["epochs_done"]
        # training and evaluation records after the checkpoint are redone
        self.run.truncate_metrics(lambda r: (r.get("epoch") or 0) <= done)
        self.prune_checkpoints()
        at = f", {state['step']} steps of epoch {done + 1}" if state["step"] else ""
        self._defer_stop = True  # from here a signal checkpoints at the next step boundary
        self.log(f"resumed from {ckpt.name} ({done} epochs done{at})")
        return True

    # -- signals ------------------------------------------------------------------------------------------
    def _on_signal(self, signum, frame):
        if self._defer_stop and not self._stop_requested:
            self._stop_requested = True
            self.log(f"signal {signum}: stopping after this step (again to stop at once)")
            return
        raise KeyboardInterrupt(f"signal {signum}")

    # -- stages -------------------------------------------------------------------------------------------
    def pretrain(self) -> dict:
        """Moment matching of the encoder against the prior, early stop below the threshold (`dgc.py` L239-264)."""
        cfg, g = self.cfg, self.g
        rng = np.random.RandomState([self.seed, 0])
        n = min(int(cfg["e_pretrain_sample_size"]), len(self.x_train))
        losses, steps = [], int(cfg["e_pretrain_steps"])
        bar = tqdm(range(steps), desc="pretrain", disable=not self.progress, leave=False)
        for i in bar:
            idx = rng.choice(len(self.x_train), n, replace=False)
            prior = rng.standard_normal((n, int(cfg["zdim"]))).astype(np.float32)
            _, loss = self.sess.run([g.pretrain_op, g.loss_pretrain],
                                    {g.batch_idx: idx, g.prior: prior,
                                     g.rng_key: dgc_model.rng_key(self.seed, "pretrain", 0, i)})
            losses.append(float(loss))
            bar.set_postfix(loss=f"{loss:.4f}")
            if loss < cfg["e_pretrain_threshold"]:
                break
        return {"steps": len(losses), "first_loss": losses[0], "last_loss": losses[-1]}

    def train_epoch(self, epoch: int, start_step: int = 0, sums: dict | None = None, wall=None) -> dict:
        """Epoch ``epoch`` (0-based) from step ``start_step`` with the running ``sums`` of the steps before it.

        A stop requested by a signal is honoured between steps: checkpoint at that step, then KeyboardInterrupt.
        """
        cfg, g = self.cfg, self.g
        bs, zdim = int(cfg["batch_size"]), int(cfg["zdim"])
        rng = np.random.RandomState([self.seed, epoch + 1])
        order = np.arange(len(self.x_train))
        if cfg["reshuffle_each_epoch"]:
            order = rng.permutation(len(self.x_train))
        for step in range(start_step):  # the prior samples of the steps done before the checkpoint
            rng.standard_normal((len(order[step * bs:(step + 1) * bs]), zdim))
        lr = float(cfg["lr"]) * schedules.lr_factor(cfg["lr_schedule"], epoch, int(cfg["epoch_num"]),
                                                     cfg["lr_schedule_cumulative"])
        sums = dict(sums) if sums else {k: 0.0 for k in SUMS}
        bar = tqdm(range(start_step, self.steps), desc=f"epoch {epoch + 1}/{cfg['epoch_num']}",
                   disable=not self.progress, leave=False, initial=start_step, total=self.steps)
        key = lambda phase, step: dgc_model.rng_key(self.seed, phase, epoch + 1, step)  # noqa: E731
        self._defer_stop = True
        try:
            for step in range(start_step, self.steps + 1):
                if self._stop_requested:
                    self.save(epoch, wall() if wall else 0.0, step=step, sums=sums)
                    self.log(f"checkpoint after step {step} of epoch {epoch + 1}")
                    raise KeyboardInterrupt(f"stopped after step {step} of epoch {epoch + 1}")
                if step == self.steps:
                    break
                idx = order[step * bs:(step + 1) * bs]
                prior = rng.standard_normal((len(idx), zdim)).astype(np.float32)
                out = g.train_step(self.sess, idx, self.y_train[idx], prior, lr, self.copies,
                                   lambda phase: key(phase, step))
                for k in ("loss", "recon", "mmd", "ce"):
                    sums[k] += float(out[k])
                sums["acc"] += float(out["correct"]) / len(idx)
                if cfg["augment_z"]:
                    sums["aug_ce"] += float(out["aug_ce"])
                    sums["aug_codes"] += out["aug_codes"]
                bar.update(1)
                bar.set_postfix(loss=f"{out['loss']:.1f}")
        finally:
            self._defer_stop = False
            bar.close()
        rec = {k: sums[k] / self.steps for k in ("loss", "recon", "mmd", "ce", "aug_ce", "aug_codes")}
        rec["train_acc"] = sums["acc"] / self.steps  # the original's printed "Train acc": mean batch accuracy
        rec["lr"] = lr
        return rec

    def predict(self, epoch: int = 0):
        cfg = self.cfg
        with tqdm(total=len(self.x_test), desc="predict", disable=not self.progress, leave=False) as bar:
            return self.g.predict(self.sess, self.x_test, int(cfg["test_batch_size"]),
                                  int(cfg["predict_batches_per_call"]), progress=bar, seed=self.seed, epoch=epoch)

    def evaluate(self, epoch: int) -> dict:
        """Predict the test set, save the predictions of both rules and log one evaluation record."""
        t0 = time.time()
        probs, gen, disc = self.predict(epoch)
        preds = {"y_true": self.y_test, "y_pred": probs.argmax(1), "scores": probs, "logits": gen,
                 "y_pred_discriminative": disc.argmax(1), "logits_discriminative": disc,
                 "test_index": self.split.idx_test}
        records.atomic_save_npz(prediction_path(self.run, epoch), **preds)
        m_gen, m_disc = evaluation_metrics(preds, self.split.train_counts)
        ev = {"n_test": int(len(self.y_test)), "eval_time_s": time.time() - t0, "rule": "generative",
              "confusion_matrix": m_gen["confusion_matrix"], "discriminative": scalar_metrics(m_disc),
              "discriminative_confusion_matrix": m_disc["confusion_matrix"]}
        self.run.log_eval(split="test", metrics=scalar_metrics(m_gen), epoch=epoch, **ev)
        return dict(ev, metrics=m_gen)

    # -- whole run ----------------------------------------------------------------------------------------
    def fit(self, stop_after: int | None = None) -> dict:
        """Train (or resume) to the end: ``{"wall_time_s": ...}``. ``stop_after`` (an epoch): raise
        ``errors.RunStopped`` at the first checkpoint at or after it, unless that is the last epoch's."""
        handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        for sig in handlers:
            signal.signal(sig, self._on_signal)
        try:
            return self._fit(stop_after)
        finally:
            for sig, h in handlers.items():
                signal.signal(sig, h)

    def _fit(self, stop_after: int | None) -> dict:
        cfg = self.cfg
        t_start = time.time()
        resumed = self.restore()
        wall0 = self.state["wall_time_s"] if resumed else 0.0
        elapsed = lambda: wall0 + time.time() - t_start  # noqa: E731
        if self.state["epochs_done"] < 0:
            if cfg["e_pretrain"]:
                t0 = time.time()
                info = self.pretrain()
                info.update(kind="pretrain", epoch=0, time_s=time.time() - t0)
                self.run.log_metrics(info)
                self.log(f"pretraining: {info['steps']} steps, loss {info['first_loss']:.4f} -> "
                         f"{info['last_loss']:.4f}")
                self.state["pretrain"] = info
            self.save(0, elapsed())
        start_step, sums = self.state["step"], self.state["sums"]
        for epoch in range(self.state["epochs_done"], int(cfg["epoch_num"])):
            t0 = time.time()
            rec = self.train_epoch(epoch, start_step, sums, wall=elapsed)
            start_step, sums = 0, None
            rec.update(kind="train", epoch=epoch + 1, time_s=time.time() - t0,
                       images_per_s=min(self.steps * int(cfg["batch_size"]), len(self.x_train)) / (time.time() - t0))
            self.run.log_metrics(rec)
            msg = (f"epoch {epoch + 1}: loss {rec['loss']:.2f} (recon {rec['recon']:.2f}, mmd {rec['mmd']:.4f}, "
                   f"ce {rec['ce']:.2f}), train acc {rec['train_acc']:.4f}, {rec['time_s']:.0f} s")
            if epoch in self.eval_epochs:
                ev = self.evaluate(epoch + 1)
                msg += (f" | test ({ev['n_test']}): {sd_metrics.summary_line(ev['metrics'])}; p(y|z): "
                        f"acsa={ev['discriminative']['acsa']:.4f} [{ev['eval_time_s']:.0f} s]")
            self.log(msg)
            last = epoch + 1 == int(cfg["epoch_num"])
            saved = last or (epoch + 1) % int(cfg["save_every_epoch"]) == 0
            if saved:
                self.save(epoch + 1, elapsed())
            if stop_after is not None and saved and epoch + 1 >= stop_after and not last:
                raise errors.RunStopped(f"stopped at the checkpoint of epoch {epoch + 1} (--stop-after {stop_after})")
        self._defer_stop = False
        self.save_samples()
        return {"wall_time_s": elapsed()}

    def save_samples(self) -> None:
        """A person would rather look at these: decoded prior samples and reconstructions with the true label."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        g, zdim = self.g, int(self.cfg["zdim"])
        z = np.random.RandomState([self.seed, 999]).standard_normal((64, zdim)).astype(np.float32)
        imgs = self.sess.run(g.vis_decoded, {g.vis_z: z})
        fig, axes = plt.subplots(8, 8, figsize=(6, 6))
        for ax, im in zip(axes.ravel(), imgs):
            ax.imshow(im.squeeze(), cmap="gray" if im.shape[-1] == 1 else None, vmin=0, vmax=1)
            ax.axis("off")
        fig.suptitle("decoded prior samples z ~ N(0, I)")
        fig.savefig(self.run.path / "samples.png", dpi=80)
        plt.close(fig)

    def close(self):
        self.sess.close()


def _ckpt_position(name: str) -> tuple[int, int]:
    m = CKPT_NAME.match(name + ".index")
    if not m:
        raise errors.RunFolderError(f"unexpected checkpoint name {name!r} in {STATE_FILE}")
    return int(m.group(1)), int(m.group(2) or 0)


def prediction_path(run: records.RunDir, epoch: int) -> Path:
    return run.path / "predictions" / f"epoch-{epoch:03d}.npz"


def read_predictions(run: records.RunDir, epoch: int) -> dict:
    """The arrays of the evaluation after ``epoch`` (plain arrays only: a file holding a pickle is refused)."""
    with np.load(prediction_path(run, epoch), allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def evaluation_metrics(preds, train_counts) -> tuple[dict, dict]:
    """All metrics of the generative Bayes rule and of p(y|z) from one evaluation's predictions."""
    m_gen = sd_metrics.compute(preds["y_true"], preds["y_pred"], train_counts=train_counts)
    m_disc = sd_metrics.compute(preds["y_true"], preds["y_pred_discriminative"], train_counts=train_counts)
    return m_gen, m_disc


def report_record(run: records.RunDir, report_epoch: int | None) -> dict:
    """The test evaluation to report: the last one, or the one after ``report_epoch``."""
    evals = [r for r in run.read_metrics() if r.get("kind") == "eval" and r.get("split") == "test"]
    if not evals:
        raise errors.RunFolderError("the run made no evaluation; check eval_strategy")
    if report_epoch is None:
        return evals[-1]
    hit = [r for r in evals if r["epoch"] == report_epoch]
    if not hit:
        raise errors.RunFolderError(f"no evaluation at epoch {report_epoch}; evaluated: {[r['epoch'] for r in evals]}")
    return hit[-1]


def per_class_plot(run: records.RunDir, epoch: int, m_gen: dict, m_disc: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    gen, disc = np.asarray(m_gen["per_class_recall"]), np.asarray(m_disc["per_class_recall"])
    x = np.arange(len(gen))
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.bar(x - 0.2, gen, 0.4, label=f"generative Bayes rule (ACSA {m_gen['acsa']:.4f})")
    ax.bar(x + 0.2, disc, 0.4, label=f"p(y|z) (ACSA {m_disc['acsa']:.4f})")
    ax.set_xticks(x)
    ax.set_xlabel("class (training count decreasing)")
    ax.set_ylabel("recall")
    ax.set_ylim(0, 1.05)
    ax.set_title(f"per-class recall, epoch {epoch}")
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(run.path / "per_class_recall.png", dpi=90)
    plt.close(fig)
