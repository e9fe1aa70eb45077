#!/usr/bin/env python
"""Speed of DFG's training iteration (LeNet-5, Fashion-MNIST shapes) against the same calls timed alone, phase by phase.

    python bench.py [--iters 30] [--rounds 3] [--threads N] [--device auto]

bench.py times ``Trainer.iteration`` (the path the loop runs with
the default fixes: the affine critic, steps 1-4 every iteration, step 5 every 5th), then each of its phases alone:
the very same modules, optimisers and functions, called with the same shapes in a tight loop (numbered as in
``Trainer.iteration``):

    1. critic    E_t on the 5 queued real batches (5 x 64, no grad); G(z) x 5 at batch 64 (no grad, train-mode
                 BatchNorm) with the alpha draws; the affine critic loss + backward x 5; Adam(d) x 5
    2. G vs D    G(z) at batch 64 with grad, D on the batch mean, backward; Adam(g)
    3. G via C_t G(z) at 64 with grad, E_t(x0), C_t on [fake; real] (128), backward; Adam(g)
    4. E_t, C_t  E_t(x0), C_t, the regularisers (E_s, C_s), backward; Adam(e_t) + Adam(c_t)
    5. C_t       (every 5th step, so weighted 1/5) E_t(x0) and G(z) without grad, C_t on real (64), fake (64)
                 and merged (128) features, backward; Adam(c_t)

Prints a table (phase, ms per iteration alone, share of the sum), the loop's ms per iteration and the loop "at
N % of its own calls" = (sum of the phases alone) / (loop time); each time is the median over --rounds rounds.
The FLOPs of one iteration (torch.utils.flop_counter, mean over steps 1-5) are counted for the loop and for the
phases: equal counts show that the phases make the loop's calls. No data files are needed: the images are random
tensors of the real shapes. The attention update (step 6, every 2,000 steps) and the test evaluations are outside
the iteration.
"""
from __future__ import annotations

import argparse
import statistics
import time
from types import SimpleNamespace

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from dfg import nets
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


def phases(t: Trainer):
    """[(name, group, flags, fn)]: each phase of ``Trainer.iteration`` alone, with the requires_grad flags the
    iteration sets before it (``flags``: module key -> bool, applied outside the timed calls)."""
    cfg, opt, dev = t.cfg, t.opt, t.dev
    B, nd = cfg["batch_size"], cfg["num_d_iters"]
    assert t.fx["leaky_slope"] == 1.0 and not t.fx["eval_mode_side_passes"], "bench.py times the default path"
    idx = t.queue[0].to(dev)
    x0, y0 = t.x[idx], t.y[idx]
    with torch.no_grad():
        reals = t._critic_reals()
        fakes = [t._critic_fake() for _ in range(nd)]
    critic_flags = {"d": True, "e_t": False, "c_t": False, "g": False}

    def critic_g():
        for _ in range(nd):
            t._critic_fake()

    def critic_d():
        for real, (fake, alpha) in zip(reals, fakes):
            d_loss, gp = t._critic_loss(real, fake, alpha)
            t._zero_backward(d_loss, "d")
        d_loss.item(), gp.item()

    def adam_d():
        for _ in range(nd):
            opt["d"].step()

    def g_adv():
        t._zero_backward(g_loss := t._g_adv_loss(), "g")
        g_loss.item()

    def g_cls():
        t._zero_backward(loss3 := t._g_cls_loss(x0, y0), "g")
        loss3.item()

    def e_c():
        total, terms = t._ec_loss(x0, y0)
        t._zero_backward(total, "e_t", "c_t")
        [v.item() for v in terms.values()]

    def adam_e_c():
        opt["e_t"].step()
        opt["c_t"].step()

    def c_only():
        c_loss, fake_term, merged_term = t._c_loss(x0, y0)
        t._zero_backward(c_loss, "c_t")
        [v.item() for v in (c_loss, fake_term, merged_term)]

    g_flags = {"d": False, "g": True, "e_t": False, "c_t": False}
    ec_flags = {"d": False, "g": False, "e_t": True, "c_t": True}
    return [
        ("1. critic: E_t(5 x 64 reals)", "critic", critic_flags, t._critic_reals),
        (f"1. critic: G(z) x {nd} at {B}, no grad", "critic", critic_flags, critic_g),
        (f"1. critic: affine loss + backward x {nd}", "critic", critic_flags, critic_d),
        (f"1. critic: Adam(d) x {nd}", "Adam", critic_flags, adam_d),
        (f"2. G vs D: G(z) at {B} + backward", "G", g_flags, g_adv),
        ("2. G vs D: Adam(g)", "Adam", g_flags, lambda: opt["g"].step()),
        (f"3. G via C_t: G(z) at {B}, C_t at {2 * B} + backward", "G", g_flags, g_cls),
        ("3. G via C_t: Adam(g)", "Adam", g_flags, lambda: opt["g"].step()),
        ("4. E_t, C_t + regularisers + backward", "classifier", ec_flags, e_c),
        ("4. E_t, C_t: Adam(e_t) + Adam(c_t)", "Adam", ec_flags, adam_e_c),
        ("5. C_t on real, fake, merged + backward", "classifier", ec_flags, c_only),
        ("5. C_t: Adam(c_t)", "Adam", ec_flags, lambda: opt["c_t"].step()),
    ]


def _set_flags(t: Trainer, flags: dict) -> None:
    for k, on in flags.items():
        t.n[k].requires_grad_(on)


def phase_weights(t: Trainer, ph) -> dict:
    """Phases per iteration: 1 for steps 1-4, 1 / step_for_5 for step 5."""
    return {name: (1 / t.cfg["step_for_5"] if name.startswith("5.") else 1.0) for name, *_ in ph}


def flop_counts(t: Trainer, step: int, ph=None) -> tuple[int, int]:
    """(FLOPs of ``t.iteration(step)``, FLOPs of the phases that step runs, each once): equal when the phases
    make the loop's calls."""
    ph = ph or phases(t)
    every5 = step % t.cfg["step_for_5"] == 0 and step != 0
    total = 0
    for name, _, flags, fn in ph:
        if every5 or not name.startswith("5."):
            _set_flags(t, flags)
            total += count_flops(fn)
    return count_flops(lambda: t.iteration(step)), total


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--iters", type=int, default=30,
                   help="timed iterations of the loop and of each phase per round (rounded up to a multiple of 5, "
                        "so that step 5 runs in 1 of 5 timed iterations)")
    p.add_argument("--rounds", type=int, default=3, help="rounds (loop, then each phase); medians are reported")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: PyTorch's)")
    p.add_argument("--device", default="auto", help="auto (cuda if available, else cpu), cpu, cuda, cuda:1...")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    device = torch.device("cuda" if a.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if a.device == "auto" else a.device))
    t = make_trainer(device)
    every5 = t.cfg["step_for_5"]
    iters = -(-max(a.iters, 1) // every5) * every5
    step = {"i": 1}

    def iteration():  # steps 1, 2, ...: steps 1-4 run each time, step 5 at multiples of 5
        t.iteration(step["i"])
        step["i"] += 1

    ph = phases(t)
    weight = phase_weights(t, ph)
    counts = [flop_counts(t, s, ph) for s in range(1, every5 + 1)]
    flops, ph_flops = (sum(c[i] for c in counts) / every5 for i in (0, 1))
    loop_secs, alone = [], {name: [] for name, *_ in ph}
    for _ in range(a.rounds):
        loop_secs.append(time_fn(iteration, iters, device))
        for name, _, flags, fn in ph:
            _set_flags(t, flags)
            alone[name].append(time_fn(fn, iters, device))
    ms = {name: statistics.median(v) * 1e3 * weight[name] for name, v in alone.items()}
    total = sum(ms.values())
    loop_ms = statistics.median(loop_secs) * 1e3

    print(f"device: {device} ({torch.get_num_threads()} threads), torch {torch.__version__}; "
          f"{a.rounds} rounds x {iters} iterations, medians")
    width = max(len(name) for name, *_ in ph)
    print(f"{'phase (Trainer.iteration)':<{width}}  {'ms alone':>8}  {'share':>6}")
    for name, *_ in ph:
        w = f"  (x {weight[name]:.2f}: every {every5}th step)" if weight[name] != 1.0 else ""
        print(f"{name:<{width}}  {ms[name]:8.2f}  {ms[name] / total:6.1%}{w}")
    groups = {}
    for name, group, *_ in ph:
        groups[group] = groups.get(group, 0.0) + ms[name]
    print(f"{'sum of the phases alone':<{width}}  {total:8.2f}  "
          + ", ".join(f"{g_} {v / total:.0%}" for g_, v in groups.items()))
    print(f"{'loop (Trainer.iteration)':<{width}}  {loop_ms:8.2f}  rounds: "
          + " ".join(f"{s * 1e3:.1f}" for s in loop_secs))
    print(f"loop at {total / loop_ms:.0%} of its own calls timed alone")
    print(f"FLOPs per iteration: loop {flops / 1e9:.3f} G, phases {ph_flops / 1e9:.3f} G; loop "
          f"{flops / loop_ms / 1e6:.1f} GFLOP/s")
    print(f"predicted 40,000 steps: {40000 * loop_ms / 3.6e6:.2f} h (+ 399 test evaluations); 4,000 steps: "
          f"{4000 * loop_ms / 6e4:.1f} min")


if __name__ == "__main__":
    main()
