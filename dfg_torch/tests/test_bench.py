"""bench.py's phases make the same calls as ``Trainer.iteration``: equal FLOP counts for a step with and without
step 5."""
import torch

import bench


def test_bench_phases_count_the_loops_flops():
    torch.manual_seed(0)
    t = bench.make_trainer(torch.device("cpu"), n_train=1000)
    ph = bench.phases(t)
    for step in (4, 5):
        loop, phases = bench.flop_counts(t, step, ph)
        assert loop == phases > 0, step
