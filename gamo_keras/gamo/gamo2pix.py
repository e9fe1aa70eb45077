"""GAMO2pix (``fashion_mnist_gamo2pix_main.py`` and ``_net.py``): one VAE per minority class that maps GAMO's
generated feature vectors back to images.

Per minority class i (relabelled order): the encoder is the trained GAMO F, frozen; a head Dense 128 tanh ->
``z_mean``, ``z_sigma`` (100-d each); the decoder Dense 7*7*32 -> 2x Conv2DTranspose 32 k4 s2 -> Conv2D k4 tanh.
Loss = (H*W*C) x pixel MSE + KL with KL = -0.5 sum(1 + z_sigma - z_mean^2 - exp(z_sigma)), batch mean; Adam
(2e-4, 0.5), batch 32 over the class's images in order, ``gamo2pix_steps`` steps. One Adam object serves every
class's autoencoder (``fashion_mnist_gamo2pix_main.py`` L41, passed to each class's ``compile`` at L81): each class
gets fresh moment slots but the iteration counter runs on, so class i starts at ``i * gamo2pix_steps`` and its
first updates get no bias correction (:meth:`ClassVAE.initial_state`). Sampling uses
z = z_mean + exp(z_sigma) * eps (the original; ``vae_logvar_consistent``: exp(z_sigma / 2)).

Image generation: cTMU (inference) on noise + one-hot(i) -> IGU_i's convex weights -> convex combination of
the class's real features -> head (sampled z) -> decoder. The original reshuffles the class's samples without a
seed before this, so the weights hit other samples (``--gamo2pix-shuffle-bug``); the default keeps GAMO's order.

Port notes: F is frozen, so each class's features are computed once instead of at every step (same values);
the short last batch of a class is a masked full-size batch (the mean runs over its real rows only: the same
loss and gradient, one compiled function); previews are written once per class at the end, not every 500
steps.
"""
from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
from keras import ops

from . import backend
from . import data as gdata
from .adam import AdamConfig, adam_update
from .nets import build_vae
from .pictures import save_grid
from .train import latest_checkpoint, load_state, save_state


class ClassVAE:
    def __init__(self, cfg, feature_dim: int):
        self.cfg = cfg
        self.head, self.dec = build_vae(feature_dim, cfg.image_shape, cfg.gamo2pix_latent, cfg.gamo2pix_hidden,
                                        cfg.conv_filters, cfg.leaky_slope)
        self.adam = AdamConfig(cfg.learning_rate, cfg.beta_1, cfg.beta_2, cfg.adam_epsilon)
        self.pixels = float(np.prod(cfg.image_shape))
        self.half = 0.5 if cfg.vae_logvar_consistent else 1.0

    def initial_state(self, counter: int = 0):
        """Keras initialisation, zero moments, and Adam's iteration counter at ``counter``: the shared counter
        the class's training starts from (``class_index * gamo2pix_steps`` in the original's order)."""
        vals = lambda vs: [np.asarray(ops.convert_to_numpy(v.value)) for v in vs]  # noqa: E731
        p = {"H": vals(self.head.trainable_variables), "Dec": vals(self.dec.trainable_variables)}
        zeros = lambda t: [np.zeros_like(a) for a in t]  # noqa: E731
        return {"p": p, "m": {k: zeros(v) for k, v in p.items()}, "v": {k: zeros(v) for k, v in p.items()},
                "t": np.full((), counter, np.float32)}

    def encode(self, pH, feats, eps):
        z_mean, z_sigma = self.head.stateless_call(pH, [], feats)[0]
        return z_mean, z_sigma, z_mean + ops.exp(self.half * z_sigma) * eps

    def decode(self, pDec, z):
        return self.dec.stateless_call(pDec, [], z)[0]

    def loss(self, p, feats, images, eps, mask):
        z_mean, z_sigma, z = self.encode(p["H"], feats, eps)
        recon = self.decode(p["Dec"], z)
        n = ops.sum(mask)
        sq = ops.mean(ops.reshape(ops.square(recon - images), (ops.shape(images)[0], -1)), axis=-1)
        mse = ops.sum(sq * mask) / n
        kl = -0.5 * ops.sum(1.0 + z_sigma - ops.square(z_mean) - ops.exp(z_sigma), axis=-1)
        return self.pixels * mse + ops.sum(kl * mask) / n

    def make_train_fn(self, batch: int):
        shape = tuple(self.cfg.image_shape)

        def run(state, feats, images, rows, mask, eps, n):
            def body(k, s):
                idx = ops.take(rows, k, axis=0)
                f, x = ops.take(feats, idx, axis=0), ops.take(images, idx, axis=0)

                def loss_fn(p):
                    return self.loss(p, f, x, ops.take(eps, k, axis=0), ops.take(mask, k, axis=0)), None

                _, _, grads = backend.value_and_grad(loss_fn, s["p"])
                keys = ("H", "Dec")
                flat = lambda d: [a for key in keys for a in d[key]]  # noqa: E731
                new_p, new_m, new_v, t = adam_update(flat(s["p"]), flat(grads), flat(s["m"]), flat(s["v"]), s["t"],
                                                     self.adam)
                out, i = {"p": {}, "m": {}, "v": {}, "t": t}, 0
                for key in keys:
                    c = len(s["p"][key])
                    out["p"][key], out["m"][key], out["v"][key] = new_p[i:i + c], new_m[i:i + c], new_v[i:i + c]
                    i += c
                return out

            del shape
            return ops.fori_loop(0, n, body, state)

        return backend.compile_fn(run, self.cfg.xla_conv)


def class_batches(n: int, batch: int, start: int, length: int):
    """Rows and masks of steps start..start+length-1: sequential batches of ``batch`` over n images, the
    last one short (padded with row 0, masked out)."""
    nb, last = gdata.batch_layout(n, batch)
    rows = np.zeros((length, batch), np.int32)
    mask = np.zeros((length, batch), np.float32)
    for k in range(length):
        b = (start + k) % nb
        size = last if b == nb - 1 else batch
        rows[k, :size] = np.arange(b * batch, b * batch + size)
        mask[k, :size] = 1.0
    return rows, mask


def run_stage(cfg, trainer, prep, out: Path, seed: int, progress: bool = True) -> list[Path]:
    """Train (resuming) one decoder per minority class from the GAMO run in ``trainer`` and write the pictures;
    ``out`` is the stage's folder (each combination of GAMO2pix corrections has its own, named by its variant).
    Returns the pictures written."""
    from tqdm import tqdm

    out = Path(out)
    ck_root = out / "checkpoints"
    ck_root.mkdir(parents=True, exist_ok=True)
    pF = trainer.state["p"]["F"]
    seed = int(seed)
    chunk = max(1, min(cfg.gamo2pix_save_every, 500))
    keras.utils.set_random_seed(seed + 1000)
    generated, recon_rows, labels = [], [], []
    for k, cls in enumerate(prep.minority):
        images = prep.x_train[prep.class_rows[k]]
        if not cfg.gamo2pix_keep_order:  # the original's reshuffle of the class (seeded here)
            images = images[gdata.iteration_rng(seed, k, stream=6).permutation(len(images))]
        feats = backend.to_numpy(trainer._features_of(pF, backend.to_device(images), min(500, len(images))))
        vae = ClassVAE(cfg, feats.shape[1])
        ck_dir = ck_root / f"class_{k}"
        # the original's one Adam: the counter has run through the earlier classes' steps
        like = vae.initial_state(k * cfg.gamo2pix_steps)
        found = latest_checkpoint(ck_dir) if ck_dir.exists() else None
        if found:
            state, meta = load_state(found, like)
            done = int(meta["step"])
        else:
            state, done = like, 0
        state = backend.to_device(state)
        fn = vae.make_train_fn(cfg.gamo2pix_batch)
        dev_f, dev_x = backend.to_device(feats), backend.to_device(images)
        bar = tqdm(total=cfg.gamo2pix_steps, initial=done, unit="step", desc=f"gamo2pix class "
                   f"{int(prep.order[cls])}", mininterval=2) if progress else None
        while done < cfg.gamo2pix_steps:
            length = min(chunk, cfg.gamo2pix_steps - done)
            rows, mask = class_batches(len(images), cfg.gamo2pix_batch, done, chunk)
            eps = gdata.iteration_rng(seed, done, stream=10 + k).standard_normal(
                (chunk, cfg.gamo2pix_batch, cfg.gamo2pix_latent)).astype(np.float32)
            state = fn(state, dev_f, dev_x, backend.to_device(rows), backend.to_device(mask), backend.to_device(eps),
                       backend.to_device(np.int32(length)))
            done += length
            if bar is not None:
                bar.update(length)
            if done % cfg.gamo2pix_save_every == 0 or done == cfg.gamo2pix_steps:
                ck_dir.mkdir(parents=True, exist_ok=True)
                path = ck_dir / f"state_{done:06d}.npz"
                save_state(path, state, {"step": done, "class_relabelled": k})
                for old in ck_dir.glob("state_*.npz"):
                    if old != path:
                        old.unlink()
        if bar is not None:
            bar.close()
        # images from generated features (6 per class) and 3 reconstructions of real images
        rng = gdata.iteration_rng(seed, k, stream=5)
        z = rng.standard_normal((6, cfg.latent_dim)).astype(np.float32)
        _, alpha = trainer.sample(k, z)
        gen_feats = alpha @ feats  # alpha follows GAMO's sample order; with the shuffle bug feats do not
        p = state["p"]
        eps = rng.standard_normal((6, cfg.gamo2pix_latent)).astype(np.float32)
        _, _, zz = vae.encode(p["H"], backend.to_device(gen_feats.astype(np.float32)), backend.to_device(eps))
        generated.append(backend.to_numpy(vae.decode(p["Dec"], zz)))
        eps3 = rng.standard_normal((3, cfg.gamo2pix_latent)).astype(np.float32)
        _, _, z3 = vae.encode(p["H"], backend.to_device(feats[:3]), backend.to_device(eps3))
        rec = backend.to_numpy(vae.decode(p["Dec"], z3))
        recon_rows.append(np.concatenate([images[:3], rec], axis=0))
        labels.append(f"{int(prep.order[cls])}")
    save_grid(np.stack(generated), out / "samples.png", prep,
              "GAMO2pix: images of generated features (rows: minority classes, original labels)", labels)
    save_grid(np.stack(recon_rows), out / "reconstructions.png", prep,
              "GAMO2pix: 3 real images, then their reconstructions", labels)
    (out / "summary.json").write_text(json.dumps({
        "steps_per_class": cfg.gamo2pix_steps, "keep_order": cfg.gamo2pix_keep_order,
        "vae_logvar_consistent": cfg.vae_logvar_consistent, "classes_original_labels": labels}, indent=2))
    return [out / "samples.png", out / "reconstructions.png"]
