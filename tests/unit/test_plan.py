"""Planning: keyframes, where each output frame comes from, recursive chains and their batches."""

import pytest
from framefill.errors import InputError, SequenceError
from framefill.pipeline.fill_ahead import MotionAhead
from framefill.pipeline.plan import FrameTask, bisection_levels, keyframes, plan_frames, recursive_sources


@pytest.mark.parametrize(
    ("frames", "every", "expected"),
    [
        pytest.param(range(1001, 1011), 2, (1001, 1003, 1005, 1007, 1009, 1010), id="every-2nd-plus-last"),
        pytest.param(range(1001, 1010), 2, (1001, 1003, 1005, 1007, 1009), id="last-already-on-step"),
        pytest.param(range(1, 11), 4, (1, 5, 9, 10), id="every-4th"),
        pytest.param(range(1, 4), 1, (1, 2, 3), id="every-frame"),
        pytest.param([-3, -2, -1, 0, 1], 3, (-3, 0, 1), id="negative-frames"),
        pytest.param([], 2, (), id="empty"),
    ],
)
def test_keyframes(frames, every, expected):
    assert keyframes(list(frames), every) == expected


def test_keyframes_rejects_zero_step():
    with pytest.raises(InputError):
        keyframes([1, 2, 3], 0)


def test_plan_unequal_gaps_give_exact_timesteps():
    tasks = {t.frame: t for t in plan_frames(range(1, 10), [1, 2, 5, 9])}
    assert tasks[2] == FrameTask(2, "copy", 2)
    assert (tasks[3].source0, tasks[3].source1, tasks[3].t) == (2, 5, pytest.approx(1 / 3))
    assert (tasks[4].source0, tasks[4].source1, tasks[4].t) == (2, 5, pytest.approx(2 / 3))
    assert [tasks[f].t for f in (6, 7, 8)] == [0.25, 0.5, 0.75]
    assert all(tasks[f].kind == "fill" for f in (3, 4, 6, 7, 8))


def test_plan_holds_at_the_edges():
    tasks = {t.frame: t for t in plan_frames(range(1, 8), [3, 5])}
    assert tasks[1].kind == tasks[2].kind == "hold" and tasks[1].source0 == 3
    assert tasks[6].kind == tasks[7].kind == "hold" and tasks[7].source0 == 5
    assert "no rendered frame before" in tasks[1].reason


def test_plan_needs_a_rendered_frame():
    with pytest.raises(SequenceError):
        plan_frames([1, 2], [])


@pytest.mark.parametrize(
    ("before", "after", "frame", "chain"),
    [
        pytest.param(0, 2, 1, [(0, 2, 1)], id="gap-1"),
        pytest.param(0, 4, 1, [(0, 4, 2), (0, 2, 1)], id="quarter"),
        pytest.param(0, 4, 3, [(0, 4, 2), (2, 4, 3)], id="three-quarters"),
        pytest.param(0, 3, 2, [(0, 3, 1), (1, 3, 2)], id="odd-gap"),
    ],
)
def test_recursive_chain(before, after, frame, chain):
    assert recursive_sources(before, after, frame) == chain


def test_a_recursive_gap_is_made_level_by_level():
    assert bisection_levels(1, 5, [2, 3, 4]) == [[(1, 5, 3)], [(1, 3, 2), (3, 5, 4)]]
    assert bisection_levels(0, 8, range(1, 8)) == [[(0, 8, 4)], [(0, 4, 2), (4, 8, 6)],
                                                  [(0, 2, 1), (2, 4, 3), (4, 6, 5), (6, 8, 7)]]
    # A range that ends inside the gap (a farm chunk): only the steps its frames need.
    assert bisection_levels(0, 8, [1, 2]) == [[(0, 8, 4)], [(0, 4, 2)], [(0, 2, 1)]]
    # Gap of 5: midpoint 3, then 1 and 4, then 2 (from 1-3) and 5 (from 4-6).
    assert bisection_levels(0, 6, range(1, 6)) == [[(0, 6, 3)], [(0, 3, 1), (3, 6, 4)], [(1, 3, 2), (4, 6, 5)]]


def test_recursive_gaps_share_a_batch_while_every_level_fits():
    levels = {gap: bisection_levels(*gap, range(gap[0] + 1, gap[1])) for gap in ((1, 5), (5, 9), (9, 13), (13, 17))}
    ahead = MotionAhead([object()], ["cpu"], 4)  # type: ignore[list-item]
    assert ahead.gap_batch_of(levels) == {(1, 5): 0, (5, 9): 0, (9, 13): 1, (13, 17): 1}  # widths 2 + 2
    assert MotionAhead([object()], ["cpu"], 3).gap_batch_of(levels) == {(1, 5): 0, (5, 9): 1, (9, 13): 2, (13, 17): 3}
    # A gap wider than the batch is a batch alone (its levels then run the batch size at a time).
    wide = {(1, 9): bisection_levels(1, 9, range(2, 9)), **{gap: levels[gap] for gap in ((9, 13), (13, 17))}}
    assert MotionAhead([object()], ["cpu"], 2).gap_batch_of(wide) == {(1, 9): 0, (9, 13): 1, (13, 17): 2}
    assert MotionAhead([object()], ["cpu"], 4).gap_batch_of(wide) == {(1, 9): 0, (9, 13): 0, (13, 17): 1}  # 2, 4, 4
