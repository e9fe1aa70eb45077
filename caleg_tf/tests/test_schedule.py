"""Batch schedule: the fixed order of the released code, and fix 10's reshuffle between epochs."""
from types import SimpleNamespace

import numpy as np

from caleg.train import Trainer
from configs import get_config

COUNTS = [40, 25, 15, 10, 7, 3]  # 100 images, batch 20: 5 batches a pass


def _trainer(reshuffle: bool, **budget) -> Trainer:
    y = np.repeat(np.arange(len(COUNTS)), COUNTS)
    split = SimpleNamespace(x_train=np.zeros((len(y), 28, 28, 1), np.float32), y_train=y,
                            x_test=np.zeros((4, 28, 28, 1), np.float32), y_test=np.arange(4))
    cfg = get_config("mnist", "full", reshuffle_each_epoch=reshuffle, num_classes=len(COUNTS), batch_size=20,
                     **budget)
    return Trainer(cfg, split, run=None, seed=3, progress=False)


def _epoch(trainer, epoch):
    return np.concatenate(list(trainer.epoch_batches(epoch)))


def test_faithful_batches_are_consecutive_slices_continuing_cyclically():
    t = _trainer(False, steps_per_epoch=3, phase2_steps_per_epoch=None, refit_every=1)
    assert [b.tolist() for b in t.epoch_batches(0)] == [list(range(0, 20)), list(range(20, 40)), list(range(40, 60))]
    # the second short epoch continues where the first stopped, wrapping round after the fifth batch
    assert _epoch(t, 1).tolist() == list(range(60, 100)) + list(range(0, 20))


def test_reshuffle_keeps_the_first_epoch_and_draws_a_new_order_between_epochs():
    faithful, fixed = _trainer(False), _trainer(True)  # the full budget: every epoch one pass
    assert np.array_equal(_epoch(fixed, 0), _epoch(faithful, 0))  # the warm-up sees the same batches
    orders = [_epoch(fixed, e) for e in (1, 2)]
    for order in orders:
        assert sorted(order.tolist()) == list(range(100))  # one full pass, every image once
        assert not np.array_equal(order, _epoch(faithful, 0))
    assert not np.array_equal(*orders)
    assert np.array_equal(_epoch(_trainer(True), 2), orders[1])  # seeded: repeatable
