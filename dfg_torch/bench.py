#!/usr/bin/env python
"""Speed of DFG's training iteration (LeNet-5, Fashion-MNIST shapes) against a bare microbenchmark of its layers.

    python bench.py [--iters 30] [--threads N] [--device auto]

Prints ms per iteration of the real loop (critic x5 with gradient penalty, generator, classifier steps), the FLOPs
of one iteration counted by torch.utils.flop_counter, the achieved GFLOP/s, and the GFLOP/s of the same layers
timed alone (critic step with gradient penalty at batch 3 x 64; G forward at batch 64), so the gap is overhead.
No data files are needed: the images are random tensors of the real shapes.
"""
from __future__ import annotations

import argparse
import time
from types import SimpleNamespace

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from dfg import losses, nets
from dfg.train import Trainer
from shared_data import config


class _NullRun:
    def log_eval(self, **kw):
        pass

    def log_metrics(self, rec):
        pass


def make_trainer(device, n_train=13200, seed=0):
    cfg = config.load("configs", "fashion", "full")  # model dfg, every fix at its default
    K = 10
    rng = np.random.RandomState(seed)
    split = SimpleNamespace(x_train=rng.randint(0, 256, (n_train, 28, 28, 1), dtype=np.uint8),
                            y_train=np.repeat(np.arange(K), n_train // K), x_test=np.zeros((10, 28, 28, 1), np.uint8),
                            y_test=np.arange(10), num_classes=K, manifest={})
    owner = SimpleNamespace(cfg=cfg, fx=cfg["fixes"], device=device, num_classes=K, split=split, seed=seed,
                            minority=[], run=_NullRun(), model="dfg")
    src = nets.Lenet5(10)

    def build():
        e_t, c_t = (m.to(device) for m in nets.split_source(src, K))
        e_s, c_s = (m.to(device) for m in nets.split_source(src, K))
        e_s.requires_grad_(False).eval()
        c_s.requires_grad_(False).eval()
        g = nets.FeatureGenerator(K).to(device)
        d = nets.FeatureDiscriminator(6).to(device)
        n = {"e_t": e_t, "c_t": c_t, "g": g, "d": d}
        opts = {k: torch.optim.Adam(m.parameters(), lr=1e-4, betas=(0.5, 0.9)) for k, m in n.items()}
        return n, opts, e_s, c_s

    owner._build = build
    chan = {"extractor_weights": rng.randn(6).tolist(), "classifier_weights": [rng.randn(16).tolist()],
            "generator_attention": np.full((K, 6), 1 / 6).tolist()}
    t = Trainer(owner, chan)
    t._setup()
    return t


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_fn(fn, iters, device, warmup=3):
    for _ in range(warmup):
        fn()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(iters):
        fn()
    sync(device)
    return (time.perf_counter() - t0) / iters


def count_flops(fn) -> int:
    with FlopCounterMode(display=False) as fc:
        fn()
    return fc.get_total_flops()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--iters", type=int, default=30)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--device", default="auto")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    device = torch.device("cuda" if a.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if a.device == "auto" else a.device))
    t = make_trainer(device)
    step = {"i": 1}

    def iteration():  # step 1 is not a multiple of 5: steps 1-4 run, then every 5th adds step 5
        t.iteration(step["i"])
        step["i"] += 1

    flops = sum(count_flops(lambda s=s: t.iteration(s)) for s in (5, 6, 7, 8, 9)) / 5
    sec = time_fn(iteration, a.iters, device)
    # bare layers: the critic step with gradient penalty (batch 3 x 64) and G's forward at batch 64
    d, g = t.n["d"], t.n["g"]
    d.requires_grad_(True)
    real = torch.randn(64, 6, 14, 14, device=device).abs()
    fake = torch.randn(64, 6, 14, 14, device=device)
    alpha = torch.rand(64, 1, 1, 1, device=device)
    opt = torch.optim.Adam(d.parameters(), lr=1e-4, betas=(0.5, 0.9))

    def critic():
        loss, _ = losses.critic_loss(d, real, fake, alpha, 10.0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    zin = torch.randn(64, 110, device=device)
    att = torch.full((64, 6), 1 / 6, device=device)

    def gen():
        with torch.no_grad():
            g(zin, att)

    c_fl, c_sec = count_flops(critic), time_fn(critic, a.iters * 5, device)
    g_fl, g_sec = count_flops(gen), time_fn(gen, a.iters * 5, device)
    print(f"device: {device} ({torch.get_num_threads()} threads), torch {torch.__version__}")
    print(f"iteration: {sec * 1e3:.1f} ms, {flops / 1e9:.2f} GFLOP counted, {flops / sec / 1e9:.1f} GFLOP/s")
    print(f"bare critic step + GP (3 x 64): {c_sec * 1e3:.2f} ms, {c_fl / 1e9:.3f} GFLOP, "
          f"{c_fl / c_sec / 1e9:.1f} GFLOP/s")
    print(f"bare G forward (64): {g_sec * 1e3:.2f} ms, {g_fl / 1e9:.3f} GFLOP, {g_fl / g_sec / 1e9:.1f} GFLOP/s")
    bare = (5 * (c_fl + g_fl)) / (5 * (c_sec + g_sec))
    print(f"bare critic phase (5 x (critic + G)): {bare / 1e9:.1f} GFLOP/s; the loop reaches "
          f"{flops / sec / bare:.0%} of it")
    print(f"predicted 40,000 steps: {40000 * sec / 3600:.2f} h (+ 399 test evaluations); 4,000 steps: "
          f"{4000 * sec / 60:.1f} min")


if __name__ == "__main__":
    main()
