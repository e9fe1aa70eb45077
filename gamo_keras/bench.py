"""Step-time benchmark of one GAMO iteration (22 weight updates for ten classes) and of Fashion's outer epoch.

    python bench.py                 # make bench-gamo: every measurement below, about 4 min on 2 CPU cores
    python bench.py --only naive    # just the train_on_batch-style reference

Measured on the real ``gamo`` split of MNIST / Fashion-MNIST (split seed 0), after warm-up (compilation
excluded and reported separately):

- ``naive``: the original's structure in Keras 3: M, D and the 18 G composites as compiled Keras models,
  22 ``train_on_batch`` calls per iteration plus ``predict_on_batch`` for the fake batch, data fed from numpy
  (trainable flags toggled before each call, because Keras 3 reads them when a model's train function is
  first built, not at compile as Keras 2 did; one Keras Adam per compiled model);
- ``fused-1``: the same 22 updates as one compiled function per iteration (``run.py``'s maths, n = 1);
- ``fused-250``: 250 iterations per compiled call (what ``run.py`` does between evaluations), XLA on and off;
- Fashion: F's epoch (282 updates through frozen M) and the feature pass, with and without XLA, and the
  feature-space iteration.

Times on a shared CPU are inflated by other processes: the load average is printed with the numbers.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

import gamo  # noqa: F401  (sets KERAS_BACKEND / TF log level before Keras is imported)


def load(dataset, data_root, mirrors):
    from shared_data import splits
    from shared_data.config import load as resolve_config

    from gamo import config, pipeline

    cfg = config.of(resolve_config("configs", dataset, "full"))
    split = splits.get_split(dataset, "gamo", 0, data_root=data_root, mirrors=mirrors)
    return cfg, pipeline.prepare_split(cfg, split, 0)


def bench_fused(cfg, prep, n_per_call, calls, xla):
    from gamo import backend
    from gamo.train import Trainer

    cfg = dataclasses.replace(cfg, xla=xla, max_segment=max(n_per_call, 1))
    tr = Trainer(cfg, prep, 0, None, progress=False)
    tr.init_state()
    if tr.conv:
        tr.f_epoch(0)
    sync = lambda: backend.to_numpy(tr.state["o"]["t"])  # noqa: E731
    t0 = time.perf_counter()
    tr.run_segment(0, n_per_call, False)
    sync()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    it = n_per_call
    for _ in range(calls):
        if it + n_per_call > tr.n_batches - 1:
            it = 0
        tr.run_segment(it, it + n_per_call, False)
        it += n_per_call
    sync()
    return 1000 * (time.perf_counter() - t0) / (calls * n_per_call), compile_s


def bench_naive(cfg, prep, iters=20, warm=3):
    """22 train_on_batch calls per iteration, as the released code does (MNIST variant)."""
    import keras
    from keras import layers, ops

    from gamo import data as gd
    from gamo import nets

    keras.utils.set_random_seed(0)
    C, dim, bs = prep.num_classes, int(np.prod(cfg.image_shape)), cfg.batch_size
    adam = lambda: keras.optimizers.Adam(learning_rate=2e-4, beta_1=0.5, epsilon=1e-7)  # noqa: E731
    M = nets.build_classifier(dim, C)
    D = nets.build_discriminator(dim, C)
    M.compile(adam(), "mse")
    D.compile(adam(), "mse")
    G = nets.build_ctmu(cfg.latent_dim, C)
    M.trainable = D.trainable = False
    igus, gm, gd_ = [], [], []
    for k, rows in enumerate(prep.class_rows):
        xk = ops.convert_to_tensor(prep.x_train[rows])
        z, c = keras.Input((cfg.latent_dim,)), keras.Input((C,))
        alpha = nets.build_igu(64, len(rows), f"igu{k}")(G([z, c]))
        x = layers.Lambda(lambda a, xk=xk: ops.matmul(a, xk))(alpha)
        igus.append(keras.Model([z, c], x))
        gm.append(keras.Model([z, c], M(x)))
        gm[-1].compile(adam(), "mse")
        gd_.append(keras.Model([z, c], D([x, c])))
        gd_[-1].compile(adam(), "mse")
    rng = np.random.default_rng(0)
    to_balance = prep.to_balance
    y1h = gd.one_hot(prep.y_train, C)
    n_min = len(prep.minority)
    gp = cfg.gen_points(C)

    def iteration(j):
        sl = slice(j * bs, (j + 1) * bs)
        xb, yb = prep.x_train[sl], y1h[sl]
        M.trainable = True
        M.train_on_batch(xb, yb)
        D.trainable = True
        D.train_on_batch([xb, yb], 1 - rng.uniform(0, 0.1, (bs, 1)))
        lab = gd.draw_fake_labels(rng.random(bs), to_balance)
        z = rng.standard_normal((bs, cfg.latent_dim)).astype(np.float32)
        c = gd.one_hot(np.asarray(prep.minority)[lab], C)
        fake = np.zeros((bs, dim), np.float32)
        for k in range(n_min):
            r = np.flatnonzero(lab == k)
            if len(r):
                fake[r] = igus[k].predict_on_batch([z[r], c[r]])
        M.train_on_batch(fake, c)
        D.train_on_batch([fake, c], rng.uniform(0, 0.1, (bs, 1)))
        M.trainable = D.trainable = False
        for k in range(n_min):
            ck = np.tile(gd.one_hot(np.array([prep.minority[k]]), C), (gp, 1))
            zk = rng.standard_normal((gp, cfg.latent_dim))
            gm[k].train_on_batch([zk, ck], 1 - ck)
            gd_[k].train_on_batch([zk, ck], np.ones((gp, 1)))

    t0 = time.perf_counter()
    for j in range(warm):
        iteration(j)
    warm_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for j in range(iters):
        iteration(warm + j)
    return 1000 * (time.perf_counter() - t0) / iters, warm_s


def bench_fashion_epoch(cfg, prep, xla_conv):
    from gamo import backend
    from gamo.train import Trainer

    cfg = dataclasses.replace(cfg, xla_conv=xla_conv)
    tr = Trainer(cfg, prep, 0, None, progress=False)
    tr.init_state()
    t0 = time.perf_counter()
    tr.f_epoch(0)
    backend.to_numpy(tr.x[:1])
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    tr.f_epoch(1)
    backend.to_numpy(tr.x[:1])
    epoch = time.perf_counter() - t0
    t0 = time.perf_counter()
    tr.refresh_features()
    backend.to_numpy(tr.x[:1])
    feats = time.perf_counter() - t0
    return epoch, feats, first


def bench_f_steps(cfg, prep, xla_conv, steps=20):
    """F updates through frozen M (one batch of 32 each), compiled with or without XLA."""
    from gamo import backend
    from gamo import data as gd
    from gamo.train import Trainer

    tr = Trainer(cfg, prep, 0, None, progress=False)
    tr.init_state()
    fn = tr.game.make_f_epoch_fn(cfg.batch_size, xla_conv)
    i32 = lambda v: backend.to_device(np.int32(v))  # noqa: E731
    perm = backend.to_device(gd.epoch_permutation(0, 0, len(prep.y_train)))
    st = fn(tr.state, tr.images, tr.y, perm, i32(0), i32(2), i32(32))
    backend.to_numpy(st["o"]["t"])
    t0 = time.perf_counter()
    st = fn(st, tr.images, tr.y, perm, i32(2), i32(steps), i32(32))
    backend.to_numpy(st["o"]["t"])
    return 1000 * (time.perf_counter() - t0) / steps


def bench_gamo2pix(cfg, prep, steps=100):
    """GAMO2pix: ms per VAE step (batch 32) on the features of the largest minority class."""
    from gamo import backend
    from gamo.gamo2pix import ClassVAE, class_batches

    k = len(prep.minority) - 1
    images = prep.x_train[prep.class_rows[k]]
    feats = np.random.default_rng(0).uniform(-1, 1, (len(images), cfg.feature_dim)).astype(np.float32)
    vae = ClassVAE(cfg, cfg.feature_dim)
    fn = vae.make_train_fn(cfg.gamo2pix_batch)
    state = backend.to_device(vae.initial_state())
    args = [backend.to_device(a) for a in (feats, images)]

    def call(state, start, n):
        rows, mask = class_batches(len(images), cfg.gamo2pix_batch, start, n)
        eps = np.random.default_rng(start).standard_normal((n, cfg.gamo2pix_batch, cfg.gamo2pix_latent))
        return fn(state, *args, backend.to_device(rows), backend.to_device(mask),
                  backend.to_device(eps.astype(np.float32)), backend.to_device(np.int32(n)))

    state = call(state, 0, steps)
    backend.to_numpy(state["t"])
    t0 = time.perf_counter()
    state = call(state, steps, steps)
    backend.to_numpy(state["t"])
    return 1000 * (time.perf_counter() - t0) / steps


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", default=os.environ.get("SHARED_DATA_ROOT", "data"))
    p.add_argument("--mirror", action="append", default=[])
    p.add_argument("--only", choices=("naive", "fused", "fashion", "gamo2pix"), default=None)
    p.add_argument("--out", default=None, help="also write the numbers as JSON here")
    args = p.parse_args(argv)
    from gamo import backend

    rows = {"device": backend.describe_device(), "load_average_before": os.getloadavg()}
    cfg, prep = load("mnist", args.data_root, args.mirror)

    def report(key, value):
        rows[key] = value
        print(f"{key:42s} {value}", flush=True)

    if args.only in (None, "naive"):
        ms, warm = bench_naive(cfg, prep)
        report("mnist naive train_on_batch ms/it", round(ms, 1))
        report("mnist naive warm-up (3 it) s", round(warm, 1))
    if args.only in (None, "fused"):
        for n, calls, xla in ((1, 60, True), (250, 2, True), (250, 1, False)):
            ms, comp = bench_fused(cfg, prep, n, calls, xla)
            report(f"mnist fused-{n} xla={xla} ms/it", round(ms, 2))
            report(f"mnist fused-{n} xla={xla} compile s", round(comp, 1))
    if args.only in (None, "fashion"):
        fcfg, fprep = load("fashion", args.data_root, args.mirror)
        ms, comp = bench_fused(fcfg, fprep, 250, 2, True)
        report("fashion fused-250 xla=True ms/it", round(ms, 2))
        ep, fe, _ = bench_fashion_epoch(fcfg, fprep, False)
        report("fashion F epoch (282 updates) xla=False s", round(ep, 2))
        report("fashion features (9000 images) xla=False s", round(fe, 2))
        for xc in (False, True):
            report(f"fashion F update xla={xc} ms/step", round(bench_f_steps(fcfg, fprep, xc), 1))
        ms = bench_gamo2pix(fcfg, fprep)
        report("fashion gamo2pix VAE ms/step", round(ms, 1))
        report("fashion gamo2pix full (9 x 25,000 steps) estimate min", round(9 * 25000 * ms / 60000, 1))
        if "fashion F epoch (282 updates) xla=False s" in rows:
            est = (25000 * rows["fashion fused-250 xla=True ms/it"] / 1000
                   + 89 * (rows["fashion F epoch (282 updates) xla=False s"]
                           + rows["fashion features (9000 images) xla=False s"]))
            report("fashion full budget estimate (no evals) min", round(est / 60, 1))
    if args.only == "gamo2pix":
        fcfg, fprep = load("fashion", args.data_root, args.mirror)
        report("fashion gamo2pix VAE ms/step", round(bench_gamo2pix(fcfg, fprep), 1))
    if "mnist fused-250 xla=True ms/it" in rows:
        report("mnist full budget estimate (no evals) min", round(25000 * rows["mnist fused-250 xla=True ms/it"]
                                                                  / 60000, 1))
    rows["load_average_after"] = os.getloadavg()
    print(f"load average before {rows['load_average_before']}, after {rows['load_average_after']} "
          f"({os.cpu_count()} cores; a load above the core count means a shared CPU)")
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
