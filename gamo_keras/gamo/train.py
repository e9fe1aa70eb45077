"""The training loop: runs the actions of :func:`gamo.schedule.plan` with the compiled functions of
:class:`gamo.game.Game`, evaluates, checkpoints and resumes.

Data lives on the framework side for the whole run (training samples, one-hot targets, the minority sample
matrix, the test set); per compiled call only the random numbers of its iterations (drawn in numpy, one
generator per iteration) and two integers cross over. Evaluations return M's softmax to numpy; scoring is
``shared_data.metrics`` (done by the caller through ``on_eval``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from keras import ops
from shared_data.errors import RunFolderError

from . import backend
from . import data as gdata
from .config import GamoConfig
from .game import Game
from .schedule import Schedule, plan

CHECKPOINT_PREFIX = "state_"


class CheckpointError(RunFolderError):
    """A checkpoint that cannot be read, or that belongs to other networks."""


@dataclass
class Evaluation:
    step: int
    train_prob: np.ndarray  # (N_train, C), relabelled class order, rows in the shuffled training order
    test_prob: np.ndarray  # (N_test, C)


def save_state(path: Path, state, meta: dict) -> Path:
    """Flatten the state pytree into an NPZ (leaf i -> ``leaf_i``) plus its metadata, atomically."""
    from shared_data.records import atomic_save_npz

    leaves = [np.asarray(a) for a in keras.tree.flatten(backend.to_numpy(state))]
    arrays = {f"leaf_{i:05d}": a for i, a in enumerate(leaves)}
    arrays["meta"] = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)
    return atomic_save_npz(path, **arrays)


def load_state(path: Path, like):
    """Read a checkpoint written by :func:`save_state` into the structure of ``like`` (numpy arrays)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(bytes(z["meta"]).decode())
            leaves = [z[k] for k in sorted(k for k in z.files if k.startswith("leaf_"))]
    except Exception as exc:  # noqa: BLE001 - any unreadable file is reported the same way
        raise CheckpointError(f"{path}: unreadable checkpoint ({exc.__class__.__name__}: {exc}); delete it to "
                           f"resume from an earlier one or start over") from exc
    ref = keras.tree.flatten(like)
    if len(ref) != len(leaves) or any(np.shape(a) != np.shape(b) for a, b in zip(ref, leaves)):
        raise CheckpointError(f"{path}: checkpoint does not match this configuration's networks")
    return keras.tree.pack_sequence_as(like, leaves), meta


def latest_checkpoint(folder: Path) -> Path | None:
    found = sorted(Path(folder).glob(f"{CHECKPOINT_PREFIX}*.npz"))
    return found[-1] if found else None


class Trainer:
    """One GAMO (or baseline) run on a :class:`gamo.data.Prepared` problem."""

    def __init__(self, cfg: GamoConfig, prep: gdata.Prepared, seed: int, checkpoint_dir: Path | None = None,
                 progress: bool = True, log=print):
        self.cfg, self.prep, self.seed = cfg, prep, int(seed)
        self.ckpt_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.progress, self.log = progress, log
        keras.utils.set_random_seed(self.seed)  # Keras initialisation (Glorot-uniform, zero biases)
        self.game = Game(cfg, prep.num_classes, prep.minority, prep.minority_sizes)
        self.conv = cfg.variant == "conv"
        self.C = prep.num_classes
        n = len(prep.y_train)
        bs = cfg.batch_size
        self.n_batches, self.last = gdata.batch_layout(n, bs)
        # the short last batch is a masked full-size batch inside the compiled chunk: no segment of its own
        self.schedule = Schedule.from_steps(cfg.max_step, cfg.step_increment, cfg.eval_every_steps,
                                            cfg.save_every_steps, self.n_batches, False, self.conv,
                                            cfg.max_segment)
        self.n_min = len(prep.minority)
        self.gen_points = cfg.gen_points(self.C)
        self.capacity = self.schedule.max_segment
        # -- data on the framework side ---------------------------------------------------------------
        self.y = backend.to_device(gdata.one_hot(prep.y_train, self.C))
        self.images = backend.to_device(prep.x_train) if self.conv else None
        self.test_x = backend.to_device(prep.x_test)
        self.x = None if self.conv else backend.to_device(prep.x_train)
        self.rows = backend.to_device(prep.minority_rows.astype(np.int32))
        self.x_cat = ops.take(self.x, self.rows, axis=0) if (self.x is not None and self.n_min) else None
        self._fns: dict = {}
        self._epoch_features = None  # epoch -> features of the training images computed at its start
        self._test_features = None
        self.state = None
        self.last_losses = None  # the losses of the last iteration run (Game.loss_names order)
        self.iteration = 0
        self.epoch = -1

    # -- compiled functions, built once each ------------------------------------------------------------
    def _fn(self, key, make):
        if key not in self._fns:
            self._fns[key] = make()
        return self._fns[key]

    def _xla_for_conv(self):
        return self.cfg.xla_conv

    def chunk_fn(self, bs):
        xla = self.cfg.xla_conv if self.cfg.joint_feature_training else self.cfg.xla
        return self._fn(("chunk", bs), lambda: self.game.make_chunk_fn(bs, self.cfg.batch_size, xla))

    # -- state -------------------------------------------------------------------------------------------
    def init_state(self):
        self.state = backend.to_device(self.game.initial_state())
        self.iteration, self.epoch = 0, -1

    def resume(self) -> bool:
        """Load the latest checkpoint of ``checkpoint_dir``; True if one was found."""
        if self.ckpt_dir is None:
            return False
        path = latest_checkpoint(self.ckpt_dir)
        if path is None:
            return False
        like = self.game.initial_state()
        state, meta = load_state(path, like)
        self.state = backend.to_device(state)
        self.iteration = int(meta["iteration"])
        self.epoch = -1  # features are recomputed from the restored F (F is unchanged within a pass)
        self.log(f"resumed from {path.name} (iteration {self.iteration} of {self.schedule.total_iterations})")
        return True

    def checkpoint(self, iterations_done: int) -> Path | None:
        if self.ckpt_dir is None:
            return None
        self.ckpt_dir.mkdir(parents=True, exist_ok=True)
        path = self.ckpt_dir / f"{CHECKPOINT_PREFIX}{iterations_done:06d}.npz"
        meta = {"iteration": iterations_done, "step": iterations_done * self.cfg.step_increment,
                "minority": self.prep.minority, "minority_sizes": self.prep.minority_sizes}
        save_state(path, self.state, meta)
        for old in self.ckpt_dir.glob(f"{CHECKPOINT_PREFIX}*.npz"):  # keep the newest only (resume needs one)
            if old != path:
                old.unlink()
        return path

    # -- Fashion's outer epoch -----------------------------------------------------------------------------
    def _features_of(self, pF, images, chunk):
        n = int(images.shape[0])
        fn = self._fn(("features", chunk), lambda: self.game.make_features_fn(chunk, self._xla_for_conv()))
        parts = []
        for start in range(0, n, chunk):
            if start + chunk <= n:
                parts.append(fn(pF, images, backend.to_device(np.int32(start))))
            else:  # remainder: F on the last rows directly
                rest = ops.slice(images, (start, 0, 0, 0), (n - start,) + tuple(images.shape[1:]))
                parts.append(self.game.features(pF, rest))
        return ops.concatenate(parts, axis=0)

    def f_epoch(self, epoch: int):
        """``conv_mlp.fit(x, y, batch_size=32, epochs=1, shuffle=True)``: F through frozen M, then the new
        features of every training image and each minority class's feature matrix."""
        n = len(self.prep.y_train)
        bs = self.cfg.batch_size
        if not self.cfg.joint_feature_training:
            perm = backend.to_device(gdata.epoch_permutation(self.seed, epoch, n))
            full = self.n_batches - (1 if self.last != bs else 0)
            fn = self._fn(("fepoch", bs), lambda: self.game.make_f_epoch_fn(bs, self._xla_for_conv()))
            i32 = lambda v: backend.to_device(np.int32(v))  # noqa: E731
            self.state = fn(self.state, self.images, self.y, perm, i32(0), i32(full), i32(bs))
            if self.last != bs:
                fn_s = self._fn(("fepoch", self.last), lambda: self.game.make_f_epoch_fn(self.last,
                                                                                          self._xla_for_conv()))
                self.state = fn_s(self.state, self.images, self.y, perm, i32(full), i32(1), i32(bs))
        self.refresh_features()
        self.epoch = epoch

    def refresh_features(self):
        pF = self.state["p"]["F"]
        feats = self._features_of(pF, self.images, self.cfg.feature_batch)
        self.x = feats
        self.x_cat = ops.take(feats, self.rows, axis=0) if self.n_min else None
        self._test_features = None

    # -- the game --------------------------------------------------------------------------------------------
    def run_segment(self, a: int, b: int, small: bool = False):
        bs = self.cfg.batch_size
        g = self.game
        rand = gdata.random_chunk(self.seed, a, b - a, self.capacity, self.cfg.batch_size, self.cfg.latent_dim,
                                  self.n_min, self.gen_points, self.prep.to_balance if self.n_min else [1],
                                  self.cfg.real_smoothing, self.cfg.fake_smoothing, self.n_batches,
                                  len(self.prep.y_train))
        x_cat = self.x_cat if self.x_cat is not None else ops.zeros((1, g.dim))
        dat = {"x": self.x, "y": self.y, "x_cat": x_cat}
        if self.cfg.joint_feature_training:
            dat["img"] = self.images
        self.state, self.last_losses = self.chunk_fn(bs)(self.state, dat, backend.to_device(rand.arrays()),
                                                         backend.to_device(np.int32(b - a)))
        self.iteration = b

    # -- evaluation ------------------------------------------------------------------------------------------
    def _predict(self, p, x, from_images: bool):
        n = int(x.shape[0])
        chunk = min(self.cfg.eval_batch, n)
        fn = self._fn(("predict", chunk, from_images),
                      lambda: self.game.make_predict_fn(chunk, from_images,
                                                        self._xla_for_conv() if from_images else self.cfg.xla))
        out = []
        for start in range(0, n, chunk):
            if start + chunk <= n:
                out.append(backend.to_numpy(fn(p, x, backend.to_device(np.int32(start)))))
            else:
                rest = ops.slice(x, (start,) + (0,) * (len(x.shape) - 1), (n - start,) + tuple(x.shape[1:]))
                feats = self.game.features(p["F"], rest) if from_images else rest
                out.append(backend.to_numpy(self.game.m_prob(p["M"], feats)))
        return np.concatenate(out, axis=0)

    def evaluate(self, step: int) -> Evaluation:
        """M's softmax on the full training set and the test set (Fashion: through F on images; within a pass
        F is fixed, so the training images' features are the ones computed at the pass's start)."""
        p = self.state["p"]
        if not self.conv:
            return Evaluation(step, self._predict(p, self.x, False), self._predict(p, self.test_x, False))
        if self.cfg.joint_feature_training:
            return Evaluation(step, self._predict(p, self.images, True), self._predict(p, self.test_x, True))
        if self._test_features is None:
            self._test_features = self._features_of(p["F"], self.test_x, min(self.cfg.feature_batch,
                                                                               int(self.test_x.shape[0])))
        return Evaluation(step, self._predict(p, self.x, False), self._predict(p, self._test_features, False))

    # -- the whole run -------------------------------------------------------------------------------------------
    def train(self, on_eval=None, on_save=None, stop_after: int | None = None) -> bool:
        """Run from ``self.iteration`` to the end. ``on_eval(Evaluation)`` after each evaluation (and the final
        one), ``on_save(iterations_done)`` after each checkpoint. With ``stop_after`` the run stops after the
        first checkpoint at or past that many iterations (returns False: not finished)."""
        if self.state is None:
            self.init_state()
        actions = plan(self.schedule, self.iteration)
        bar = None
        if self.progress:
            from tqdm import tqdm

            bar = tqdm(total=self.schedule.total_iterations, initial=self.iteration, unit="it",
                       desc=f"{self.cfg.model} {self.cfg.dataset}", mininterval=2.0, smoothing=0.05)
        if self.conv and self.iteration % self.n_batches != 0:
            self.refresh_features()  # resumed inside a pass: the pass's features from the restored (same) F
            self.epoch = self.iteration // self.n_batches
        try:
            for act in actions:
                kind = act[0]
                if kind == "epoch":
                    self.f_epoch(act[1])
                elif kind == "run":
                    self.run_segment(act[1], act[2], act[3])
                    if bar is not None:
                        bar.update(act[2] - act[1])
                elif kind == "eval" and on_eval is not None:
                    on_eval(self.evaluate(act[1]))
                elif kind == "save":
                    self.checkpoint(act[1])
                    if on_save is not None:
                        on_save(act[1])
                    if stop_after is not None and act[1] >= stop_after and act[1] < self.schedule.total_iterations:
                        return False
                elif kind == "final" and on_eval is not None:
                    on_eval(self.evaluate(act[1]))
        finally:
            if bar is not None:
                bar.close()
        return True

    # -- generated samples (pictures, GAMO2pix) -------------------------------------------------------------------
    def sample(self, k: int, z: np.ndarray):
        """(samples, alpha) of minority class k from the cTMU in inference mode."""
        if self.x_cat is None:
            raise RuntimeError("no minority class to sample from")
        x, alpha = self.game.sample(self.state["p"], k, backend.to_device(z), self.x_cat)
        return backend.to_numpy(x), backend.to_numpy(alpha)
