#!/usr/bin/env python
"""Speed of the GAN stage on this machine, against a bare microbenchmark of the same layers.

    python bench.py [--iters 5] [--threads N] [--device auto]

1. One real GAN iteration (G step, D step, info step; batch 64; random images, so no data files are needed):
   its FLOPs counted by ``torch.utils.flop_counter.FlopCounterMode``, then ``--iters`` timed iterations after
   one warm-up: ms per iteration and achieved GFLOP/s.
2. The bare microbenchmark, in the same process: every Conv2d and Linear layer of G and D, alone, forward and
   backward on its own input shape from one iteration, timed in a tight loop: the GFLOP/s those kernels reach
   without the training loop around them. The goal is a training loop at >= 50 % of it.
3. The full budget predicted from (1): 500 epochs x 141 iterations (one grid point).
On a shared CPU the figures move with the load of the machine: run it twice and compare.
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--micro-reps", type=int, default=5)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--dataset", choices=("mnist", "fashion"), default="mnist")
    args = p.parse_args(argv)
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from imsic.gan import GANTrainer
    from shared_data import config

    if args.threads:
        torch.set_num_threads(args.threads)
    dev = torch.device("cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
                       else "cpu")
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    cfg = config.load("configs", args.dataset, "full")
    cfg.update(seed=0, structure_loss="hinge", single_softmax=False, bn_eps=0.8, edges="code",
               edges_clip=args.dataset == "fashion")
    x = np.random.RandomState(0).randint(0, 256, (640, 28, 28, 1)).astype(np.uint8)
    t = GANTrainer(cfg, dev, x_real=x, progress=False)
    real = t.x[:64]

    # -- (1) the training iteration ---------------------------------------------------------------------
    shapes = []
    hooks = [m.register_forward_hook(lambda m, i, o: shapes.append((m, tuple(i[0].shape))))
             for m in list(t.g.modules()) + list(t.d.modules()) if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    with FlopCounterMode(display=False) as fc:
        t.step(real)
    for h in hooks:
        h.remove()
    flops = fc.get_total_flops()
    sync()
    t0 = time.perf_counter()
    for _ in range(args.iters):
        t.step(real)
    sync()
    it_s = (time.perf_counter() - t0) / args.iters
    train_gflops = flops / it_s / 1e9

    # -- (2) the same layers alone ----------------------------------------------------------------------
    seen, micro_flops, micro_s = set(), 0, 0.0
    for m, shape in shapes:
        key = (id(m), shape)
        if key in seen:
            continue
        seen.add(key)
        xin = torch.randn(shape, device=dev, requires_grad=True)
        layer = m
        with FlopCounterMode(display=False) as f1:
            layer(xin).sum().backward()
        gy = torch.randn_like(layer(xin))
        sync()
        t0 = time.perf_counter()
        for _ in range(args.micro_reps):
            layer(xin).backward(gy)
        sync()
        micro_s += (time.perf_counter() - t0) / args.micro_reps
        micro_flops += f1.get_total_flops()
    micro_gflops = micro_flops / micro_s / 1e9

    iters_full = cfg["gan_epochs"] * 141
    where = f"{dev.type}, {torch.get_num_threads()} threads" if dev.type == "cpu" else torch.cuda.get_device_name(dev)
    print(f"device: {where}; torch {torch.__version__}")
    print(f"GAN iteration (batch 64): {flops / 1e9:.1f} GFLOP counted, {1000 * it_s:.0f} ms per iteration "
          f"(mean of {args.iters}), {train_gflops:.1f} GFLOP/s")
    print(f"microbenchmark, the same Conv2d/Linear layers alone (forward + backward): {micro_gflops:.1f} GFLOP/s "
          f"-> the training loop reaches {100 * train_gflops / micro_gflops:.0f} % of it")
    print(f"full budget (one grid point, {iters_full} iterations): {iters_full * it_s / 3600:.1f} h of GAN "
          f"training at this speed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
