"""Throughput of DGC on this machine: training images/s, Bayes-rule prediction images/s, and the predicted wall
time of the full and quick budgets (``make bench-dgc``).

    python bench.py [--dataset mnist] [--train-batches 3] [--predict-calls 2]

Times a few real batches of the full-size model on the real split (LVO + main step + latent oversampling, as
in training) and a few prediction calls (one test batch of 10 images x C classes x S samples per call), after
one warm-up of each. Extrapolates to the budgets from the configs. The GPU line is an extrapolation from the
FLOP count at an assumed sustained rate, not a measurement. On a shared CPU the numbers are inflated by the
other load: the script prints the load average next to them.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import time

import numpy as np

from shared_data import cli, splits

from dgc.config import DATASETS, resolve

GPU_TFLOPS_ASSUMED = 20.0  # sustained fp32 conv throughput of a recent data-centre GPU (assumption)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_common_args(p, datasets=DATASETS, default_dataset="mnist", default_split_seed=1)
    p.add_argument("--train-batches", type=int, default=3, help="timed training batches (after 1 warm-up)")
    p.add_argument("--predict-calls", type=int, default=2, help="timed prediction calls (after 1 warm-up)")
    args = p.parse_args(argv)

    from dgc import model, oversample, schedules
    from dgc.tfcompat import tf
    from dgc.train import device

    module = importlib.import_module(f"configs.{args.dataset}")
    cfg = resolve(module, "full")
    split = splits.get_split(args.dataset, args.protocol, args.split_seed, data_root=args.data_root,
                             mirrors=args.mirror)
    x = split.x_train.astype(np.float32) / 255.0
    y = split.y_train.astype(np.int64)
    bs, zdim, S, C = cfg["batch_size"], cfg["zdim"], cfg["sampling_size"], cfg["n_classes"]
    tf.set_random_seed(0)
    g = model.DGCGraph(cfg, split.train_counts, (None,) + x.shape[1:], seed=0)
    sess = tf.Session()
    sess.run(g.init_op)
    g.load_data(sess, x, y)
    copies = oversample.copies_per_sample(split.train_counts, cfg["aug_rate"])
    rng = np.random.RandomState(0)

    def pretrain_step():
        idx = rng.choice(len(x), cfg["e_pretrain_sample_size"], replace=False)
        sess.run(g.pretrain_op, {g.batch_idx: idx, g.prior: rng.standard_normal((len(idx), zdim)),
                                 g.rng_key: model.rng_key(0, "pretrain")})

    def train_batch(i):
        idx = np.arange(i * bs, (i + 1) * bs) % len(x)
        feed = {g.batch_idx: idx, g.prior: rng.standard_normal((bs, zdim)), g.lr: cfg["lr"],
                g.rng_key: model.rng_key(0, "main", 1, i)}
        if g.lvo_op is not None:
            sess.run(g.lvo_op, feed)
        _, mu, lv = sess.run([g.main_op, g.mu, g.logvar], feed)
        rows = oversample.augment_indices(y[idx], copies)
        sess.run(g.aug_op, {g.aug_mu: mu[rows], g.aug_logvar: lv[rows], g.aug_y: y[idx][rows], g.lr: cfg["lr"],
                            g.aug_src: idx[rows], g.rng_key: model.rng_key(0, "oversample", 1, i)})

    xt = split.x_test[: cfg["test_batch_size"]].astype(np.float32) / 255.0

    def timed(fn, n):
        """Wall seconds and process CPU seconds (all threads) per call, after one warm-up call."""
        fn(0)
        t0, c0 = time.time(), time.process_time()
        for i in range(n):
            fn(i + 1)
        return (time.time() - t0) / n, (time.process_time() - c0) / n

    load0 = os.getloadavg()[0]
    t_pre, _ = timed(lambda i: pretrain_step(), 1)
    t_batch, c_batch = timed(train_batch, args.train_batches)
    t_call, c_call = timed(lambda i: g.predict(sess, xt, cfg["test_batch_size"]), args.predict_calls)
    load1 = os.getloadavg()[0]
    # On idle cores the wall time is about the CPU time spread over the cores (the convolutions parallelise
    # well); on a shared CPU the wall time is inflated but the CPU time much less so.
    cores = os.cpu_count()
    idle_batch, idle_call = c_batch / cores, c_call / cores
    train_ips = bs / t_batch
    pred_ips = cfg["test_batch_size"] / t_call

    steps = -(-len(x) // bs)  # the original's ceil
    n_eval = len(schedules.eval_epochs(cfg["eval_strategy"], cfg["epoch_num"]))
    n_test = len(split.y_test)
    full_train = cfg["epoch_num"] * steps * t_batch
    full_eval = n_eval * n_test / pred_ips
    quick = resolve(module, "quick")
    q_test = min(n_test, quick["test_subset_per_class"] * C) if quick["test_subset_per_class"] else n_test
    quick_s = t_pre + quick["epoch_num"] * steps * t_batch + q_test / pred_ips

    flops = model.flops_per_image(cfg)
    enc = flops["encoder_conv"] + flops["encoder_head"]
    # training batch: LVO + main (forward ~1x, backward ~2x) over encoder and decoder; prediction: encoder once,
    # C * S decodes per image
    gpu_batch = bs * 3 * (enc + flops["decoder"]) * 2 / (GPU_TFLOPS_ASSUMED * 1e12)
    gpu_pred = (enc + C * S * flops["decoder"]) / (GPU_TFLOPS_ASSUMED * 1e12)
    gpu_full = cfg["epoch_num"] * steps * gpu_batch + n_eval * n_test * gpu_pred

    h = lambda s: f"{s / 3600:.1f} h" if s >= 3600 else f"{s / 60:.1f} min"  # noqa: E731
    print(f"device: {device()}; load average {load0:.1f} -> {load1:.1f} on {os.cpu_count()} cores "
          f"(above ~0.5 the CPU is shared and these numbers are inflated)")
    print(f"{args.dataset}: {steps} batches of {bs} per epoch, {cfg['epoch_num']} epochs, {n_eval} evaluations "
          f"on {n_test} test images, S = {S}, {C} classes")
    print(f"pretraining step ({cfg['e_pretrain_sample_size']} images): {t_pre:.2f} s")
    print(f"training: {t_batch:.2f} s per batch (LVO + main + oversampling) = {train_ips:.1f} images/s")
    print(f"prediction: {t_call:.2f} s per call of {cfg['test_batch_size']} images ({C * S * cfg['test_batch_size']}"
          f" decodes) = {pred_ips:.2f} images/s = {1e3 * t_call / (C * S * cfg['test_batch_size']):.2f} ms/decode")
    print(f"predicted full budget on this CPU: {h(full_train + full_eval)} (training {h(full_train)}, "
          f"{n_eval} evaluations {h(full_eval)}); pretraining adds up to {cfg['e_pretrain_steps']} x {t_pre:.1f} s "
          f"(it usually stops after a step or two)")
    print(f"predicted quick budget on this CPU: {h(quick_s)} ({quick['epoch_num']} epochs, one evaluation on "
          f"{q_test} images)")
    idle_full = cfg["epoch_num"] * steps * idle_batch + n_eval * n_test * idle_call / cfg["test_batch_size"]
    idle_quick = quick["epoch_num"] * steps * idle_batch + q_test * idle_call / cfg["test_batch_size"]
    print(f"CPU time: {c_batch:.2f} s per training batch, {c_call:.2f} s per prediction call; spread over "
          f"{cores} idle cores that is {idle_batch:.2f} s and {idle_call:.2f} s, so on idle cores: full budget "
          f"about {h(idle_full)}, quick about {h(idle_quick)} (plus about a minute of start-up and checkpoints)")
    print(f"GPU extrapolation at an assumed {GPU_TFLOPS_ASSUMED:.0f} TFLOP/s sustained: full budget about "
          f"{h(gpu_full)} (not measured; {(enc + flops['decoder']) / 1e9:.2f} GFLOP per image forward)")
    sess.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
