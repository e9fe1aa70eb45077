"""Learning-rate factors per epoch (the original's `get_lr_decay`, `dgc.py` L299-312) and the evaluation
schedule (`dgc.py` L405-407).

Epochs are 0-based here, as in the original loop.
"""
from __future__ import annotations

# 'manual' (MNIST): the code sets the factor at these epoch indices only, 1.0 in every other epoch.
MANUAL_POINTS = ((30, 0.5), (50, 0.2), (100, 0.1))


def lr_factor(schedule: str, epoch: int, epoch_num: int, cumulative: bool = False) -> float:
    """Factor applied to the base learning rate during 0-based ``epoch``.

    Faithful (``cumulative=False``):
      * ``manual``: 0.5 during epoch 30 only, 0.2 during epoch 50 only, 0.1 during epoch 100 only, else 1.0;
      * ``manual_smooth``: the constant 100 ** (-1 / epoch_num) in every epoch (0.858 for 30 epochs).
    Intended (``lr_schedule_cumulative``):
      * ``manual``: 1.0, then x0.5 from epoch 30, x0.1 from epoch 50, x0.01 from epoch 100;
      * ``manual_smooth``: 100 ** (-(epoch + 1) / epoch_num), reaching 1/100 in the last epoch.
    ``constant`` is 1.0 throughout.
    """
    if schedule == "constant":
        return 1.0
    if schedule == "manual":
        if not cumulative:
            return dict(MANUAL_POINTS).get(epoch, 1.0)
        factor = 1.0
        for start, step in MANUAL_POINTS:
            if epoch >= start:
                factor *= step
        return factor
    if schedule == "manual_smooth":
        if not cumulative:
            return 100.0 ** (-1.0 / epoch_num)
        return 100.0 ** (-(epoch + 1.0) / epoch_num)
    raise ValueError(f"unknown lr_schedule {schedule!r} (constant, manual, manual_smooth)")


def eval_epochs(strategy, epoch_num: int) -> list[int]:
    """0-based epochs after which the test set is evaluated.

    ``1`` (MNIST): after 1-based epochs 5, 10, ..., i.e. 0-based 4, 9, ...; ``2`` (CelebA): 0-based 1-21, 24, 27.
    A list gives the 0-based epochs explicitly; ``"last"`` only the last epoch, ``"all"`` every epoch.
    """
    if strategy == 1:
        epochs = [e for e in range(epoch_num) if (e + 1) % 5 == 0]
    elif strategy == 2:
        epochs = list(range(1, 22)) + [24, 27]
    elif strategy == "all":
        epochs = list(range(epoch_num))
    elif strategy == "last":
        epochs = [epoch_num - 1]
    elif isinstance(strategy, (list, tuple)):
        epochs = [int(e) for e in strategy]
    else:
        raise ValueError(f"unknown eval_strategy {strategy!r} (1, 2, 'all', 'last' or a list of 0-based epochs)")
    return sorted(e for e in set(epochs) if 0 <= e < epoch_num)
