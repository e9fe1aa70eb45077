"""When things happen: the released schedule (``dense_gamo_main.py`` L25-28, L101-179) and the plan that groups
iterations."""
from gamo.schedule import Schedule, plan


def full(outer_epochs, step_increment=2):
    return Schedule.from_steps(50000, step_increment, 500, 5000, 282, True, outer_epochs, 250)


def test_full_budget_evaluations_and_checkpoints():
    s = full(False)
    assert s.total_iterations == 25000
    steps = s.evaluation_steps
    assert len(steps) == 101 and steps[:3] == [0, 500, 1000] and steps[-2:] == [49500, 50000]
    acts = plan(s)
    assert [a[1] for a in acts if a[0] == "eval"] == steps[:-1]
    assert [a[1] for a in acts if a[0] == "save"] == list(range(2500, 25001, 2500))  # every 5000 steps
    assert acts[-1] == ("final", 50000)


def test_plan_runs_every_iteration_once_with_the_short_batch_alone():
    s = full(True)
    runs = [a for a in plan(s) if a[0] == "run"]
    covered = [i for _, a, b, _ in runs for i in range(a, b)]
    assert covered == list(range(25000))
    for _, a, b, small in runs:
        assert small == (a % 282 == 281) and (not small or b == a + 1)
        assert b - a <= 250 and (a // 282) == ((b - 1) // 282)  # never crosses a pass


def test_fashion_has_89_outer_epochs():
    epochs = [a[1] for a in plan(full(True)) if a[0] == "epoch"]
    assert epochs == list(range(89))  # 88 full passes, then 184 iterations of the 89th


def test_baseline_counts_one_step_per_iteration():
    s = full(False, step_increment=1)
    assert s.total_iterations == 50000 and len(s.evaluation_steps) == 101


def test_plan_resumes_from_a_checkpoint():
    s = full(False)
    acts = plan(s, 2500)
    assert acts[0][0] == "run" and acts[0][1] == 2500
    assert [a[1] for a in acts if a[0] == "eval"][0] == 5000
