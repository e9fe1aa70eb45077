"""When things happen in a run: batches, outer epochs, evaluations and checkpoints.

The original loops ``while step < max_step`` over sequential batches (282 per pass over 9000 samples, the last
of 8), adds ``step += 2`` after every GAMO iteration (``+= 1`` in the baseline), evaluates when
``step % 500 == 0`` *before* the increment (after iterations 1, 251, 501, ...), saves models every 5000 steps
and evaluates once more at the end. Iteration ``it`` (0-based) uses batch ``it % n_batches``; the Fashion
variant starts an outer epoch (F update, new features) before every ``it % n_batches == 0``.

:func:`plan` turns that into a list of actions for the trainer, grouping consecutive full-size batches into
segments that one compiled call runs (it never crosses an evaluation, checkpoint, epoch start or the short
last batch).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Schedule:
    total_iterations: int  # max_step / step_increment
    step_increment: int  # 2 for GAMO (one iteration = "two steps"), 1 for the baseline
    eval_every_steps: int  # resSamplePd
    save_every_steps: int  # modelSamplePd
    n_batches: int  # batches per pass
    last_batch_small: bool  # the last batch of a pass is shorter than the others
    outer_epochs: bool  # Fashion: F epoch + features before each pass
    max_segment: int  # longest run of iterations in one compiled call

    @classmethod
    def from_steps(cls, max_step, step_increment, eval_every_steps, save_every_steps, n_batches, last_batch_small,
                   outer_epochs, max_segment=None):
        if max_step % step_increment:
            raise ValueError(f"max_step {max_step} is not a multiple of the step increment {step_increment}")
        total = max_step // step_increment
        seg = max_segment or max(1, eval_every_steps // step_increment)
        return cls(total, step_increment, eval_every_steps, save_every_steps, n_batches, last_batch_small,
                   outer_epochs, seg)

    def step_before(self, it: int) -> int:
        return it * self.step_increment

    def evaluates_after(self, it: int) -> bool:
        return self.step_before(it) % self.eval_every_steps == 0

    def saves_after(self, it: int) -> bool:
        return ((it + 1) * self.step_increment) % self.save_every_steps == 0 or it + 1 == self.total_iterations

    def is_small(self, it: int) -> bool:
        return self.last_batch_small and it % self.n_batches == self.n_batches - 1

    def batch_index(self, it: int) -> int:
        return it % self.n_batches

    @property
    def evaluation_steps(self) -> list[int]:
        """Steps at which metrics are recorded (periodic ones, then the final ``max_step``)."""
        steps = [self.step_before(it) for it in range(self.total_iterations) if self.evaluates_after(it)]
        return steps + [self.total_iterations * self.step_increment]


def plan(s: Schedule, start: int = 0) -> list[tuple]:
    """Actions from iteration ``start`` to the end.

    ``("epoch", e)`` outer epoch e starts (conv variant); ``("run", a, b, small)`` iterations a..b-1 with
    full-size batches (``small=False``) or the single short last batch (``small=True``);
    ``("eval", step)``; ``("save", iterations_done)``; ``("final", max_step)`` after the last iteration.
    """
    actions: list[tuple] = []
    it = start
    while it < s.total_iterations:
        if s.outer_epochs and it % s.n_batches == 0:
            actions.append(("epoch", it // s.n_batches))
        if s.is_small(it):
            end = it + 1
        else:
            end = it
            while True:
                end += 1
                last = end - 1
                if (end >= s.total_iterations or s.evaluates_after(last) or s.saves_after(last)
                        or end % s.n_batches == 0 or s.is_small(end) or end - it >= s.max_segment):
                    break
        actions.append(("run", it, end, s.is_small(it)))
        last = end - 1
        if s.evaluates_after(last):
            actions.append(("eval", s.step_before(last)))
        if s.saves_after(last):
            actions.append(("save", end))
        it = end
    actions.append(("final", s.total_iterations * s.step_increment))
    return actions
