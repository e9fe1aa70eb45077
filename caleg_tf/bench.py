#!/usr/bin/env python
"""Training throughput of CaLeG on this machine and the predicted full-budget wall time.

    python bench.py --dataset mnist [--iters 3] [--gpu-tflops 25]

Times the real full-size graph (random images of the dataset's shape, the dataset's class counts, so no
data files are needed): one warm-up call per executed fetch is excluded (TensorFlow builds its executors
then), then ``--iters`` timed calls of the warm-up step (joint autoencoder), of the three phase-2 executions
and of test-set inference. The full-budget prediction multiplies these by the schedule of configs/.
The GPU line is an *estimate*: the analytical multiply-accumulate count of one step divided by an assumed
sustained throughput (``--gpu-tflops``); it was not measured. On a shared CPU the figures are pessimistic.
"""
from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np

from configs import get_config

COUNTS = {"mnist": [4000, 2000, 1000, 750, 500, 350, 200, 100, 60, 40],
          "cifar10": [4500, 2000, 1000, 800, 600, 500, 400, 250, 150, 80]}
COUNTS["fashion"], COUNTS["svhn"] = COUNTS["mnist"], COUNTS["cifar10"]
TEST_SIZE = {"mnist": 10000, "fashion": 10000, "cifar10": 10000, "svhn": 26032}


def forward_macs(cfg: dict) -> dict:
    """Multiply-accumulates of one image's forward pass through E, G and D (the layer shapes of models.py)."""
    h, w, c = cfg["image_shape"]
    k2 = cfg["conv_filters_dim"] ** 2

    def conv_stack(filters, layers):
        macs, hh, ww, ch = 0, h, w, c
        for i in range(layers):
            out = filters // 2 ** (layers - 1 - i)
            hh, ww = math.ceil(hh / 2), math.ceil(ww / 2)
            macs += hh * ww * out * ch * k2
            ch = out
        return macs + hh * ww * ch * cfg["zdim"]

    n, f = cfg["g_num_layers"], cfg["g_num_filters"]
    h0, w0 = h // 2 ** (n - 1), w // 2 ** (n - 1)
    g = cfg["zdim"] * h0 * w0 * f
    ch, hh, ww = f, h0, w0
    for i in range(n - 1):
        g += hh * ww * ch * (ch // 2) * k2  # transposed conv: every input pixel scatters a k x k window
        ch, hh, ww = ch // 2, hh * 2, ww * 2
    g += hh * ww * ch * c * k2
    d_f, d_l = ((cfg["d_num_filters"], cfg["d_num_layers"]) if cfg["critic_use_d_config"]
                else (cfg["e_num_filters"], cfg["e_num_layers"]))
    return {"E": conv_stack(cfg["e_num_filters"], cfg["e_num_layers"]), "G": g, "D": conv_stack(d_f, d_l)}


def step_macs(cfg: dict, b: int, b_gen: int) -> dict:
    """Rough per-execution MACs: forward 1x, backward 2x (inputs and weights), GP double backward 2x more."""
    m = forward_macs(cfg)
    e, g, d = m["E"], m["G"], m["D"]
    phase1 = b * 3 * (e + g)
    enc = b * (3 * e + 2 * g)
    dec = b * e + 3 * g * (b + b_gen) + 2 * d * (b + b_gen)
    disc = b * e + g * (b + b_gen) + 3 * d * (2 * b + b_gen) + 5 * d * (b + b_gen)
    return {"phase1": phase1, "phase2": enc + dec + disc}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="mnist", choices=sorted(COUNTS))
    p.add_argument("--aug-rate", type=float, default=1.0)
    p.add_argument("--iters", type=int, default=3, help="timed calls per step kind (default 3)")
    p.add_argument("--gpu-tflops", type=float, default=25.0,
                   help="assumed sustained GPU throughput for the estimate, TFLOP/s (default 25)")
    p.add_argument("--gpu-overhead-ms", type=float, default=15.0,
                   help="assumed fixed cost of one session.run on a GPU, ms (default 15; 3 per phase-2 iteration)")
    args = p.parse_args(argv)

    from caleg import gaussians
    from caleg.graph import CaLeGGraph
    from caleg.tfcompat import tf
    from caleg.train import device_name

    cfg = get_config(args.dataset, "full", aug_rate=args.aug_rate)
    counts = COUNTS[args.dataset]
    b = cfg["batch_size"]
    rng = np.random.RandomState(0)
    y = np.repeat(np.arange(10), counts).astype(np.int32)[rng.permutation(sum(counts))]
    x = rng.randint(0, 256, (len(y), *cfg["image_shape"])).astype(np.uint8)
    t0 = time.time()
    g = CaLeGGraph(cfg, x, y, seed=0)
    sess = tf.Session(graph=g.graph)
    sess.run(g.init)
    sess.run(g.local_init, {g.x_train_ph: x, g.y_train_ph: y})
    build = time.time() - t0
    y_gen = gaussians.generation_labels(gaussians.generation_counts(b, args.aug_rate, gaussians.class_weights(counts)))
    feed = {g.batch_idx: np.arange(b, dtype=np.int32)}
    if g.aug:
        feed[g.y_gen] = y_gen
    enc_fetch = [g.train_enc] + ([g.store_z_gen] if g.aug else [])

    def timed(fn, n):
        fn()  # executor construction and first-call allocation
        ts = []
        for _ in range(n):
            t = time.time()
            fn()
            ts.append(time.time() - t)
        return float(np.median(ts))

    t_ae = timed(lambda: sess.run(g.train_ae, feed), args.iters)
    t_enc = timed(lambda: sess.run(enc_fetch, feed), args.iters)
    t_dec = timed(lambda: sess.run(g.train_dec, feed), args.iters)
    t_disc = timed(lambda: sess.run(g.train_disc, feed), args.iters)
    x_eval = x[:cfg["eval_batch_size"]]
    t_eval = timed(lambda: sess.run(g.eval_logits, {g.x_eval: x_eval}), args.iters) / len(x_eval)
    s_pre = min(len(y), cfg["e_pretrain_sample_size"])
    pre_feed = {g.pre_idx: np.arange(s_pre, dtype=np.int32), g.pre_pz: rng.randn(s_pre, cfg["zdim"])}
    t_pre = timed(lambda: sess.run(g.train_pre, pre_feed), 1)
    t_p2 = t_enc + t_dec + t_disc

    macs = step_macs(cfg, b, len(y_gen) if g.aug else 0)
    n_batches = math.ceil(len(y) / b)
    n_test = TEST_SIZE[args.dataset]
    print(f"CaLeG {args.dataset}, aug rate {args.aug_rate:g}, batch {b}, device {device_name()}")
    print(f"graph build + init {build:.1f} s")
    print(f"warm-up step (joint AE)   {t_ae:6.2f} s  {b / t_ae:7.1f} train images/s  "
          f"({2 * macs['phase1'] / t_ae / 1e9:.0f} GFLOP/s achieved, analytical count)")
    print(f"phase-2 iteration         {t_p2:6.2f} s  {b / t_p2:7.1f} train images/s  "
          f"(encoder {t_enc:.2f} + decoder {t_dec:.2f} + discriminator {t_disc:.2f} s; "
          f"{2 * macs['phase2'] / t_p2 / 1e9:.0f} GFLOP/s)")
    print(f"inference                 {1 / t_eval:7.1f} test images/s;  pretraining step {t_pre:.2f} s")

    def predict(budget):
        c = get_config(args.dataset, budget, aug_rate=args.aug_rate)
        warm, p2, ev = 0, 0, 0
        for e in range(c["epochs"]):
            phase2 = e >= c["refit_every"]
            steps = (c["phase2_steps_per_epoch"] if phase2 and c["phase2_steps_per_epoch"] else c["steps_per_epoch"])
            steps = steps or n_batches
            p2, warm = (p2 + steps, warm) if phase2 else (p2, warm + steps)
            ev += min(n_test, c["test_per_class"] * c["num_classes"] if c["test_per_class"] else n_test)
        return warm, p2, ev, c["e_pretrain_steps"], c["epochs"]

    flops_per = {"phase1": 2 * macs["phase1"], "phase2": 2 * macs["phase2"]}
    for budget in ("full", "quick"):
        warm, p2, ev, pre, epochs = predict(budget)
        cpu = warm * t_ae + p2 * t_p2 + ev * t_eval
        cpu_pre = pre * t_pre
        gpu = ((warm * flops_per["phase1"] + p2 * flops_per["phase2"]) / (args.gpu_tflops * 1e12)
               + (warm + 3 * p2) * args.gpu_overhead_ms / 1000)
        print(f"{budget:5s} budget, one seed: {epochs} epochs = {warm} warm-up steps + {p2} phase-2 iterations + "
              f"{ev} test images: CPU {cpu / 3600:.2f} h (+ up to {cpu_pre / 60:.1f} min pretraining, "
              f"{pre} steps at most); GPU estimate {gpu / 60:.1f} min ({args.gpu_tflops:g} TFLOP/s sustained, "
              f"{args.gpu_overhead_ms:g} ms per run call; not measured)")
    sess.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
