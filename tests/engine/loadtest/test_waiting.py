"""The share of the annotators' time with work, over a window, and the bench's steady-state window: closed-form cases."""

import pytest

from engine.loadtest.waiting import idle_within, share_with_work, steady_window


def test_idle_within_counts_only_the_part_of_each_wait_inside_the_window():
    spans = [(0.0, 10.0), (15.0, 10.0), (40.0, 5.0)]  # waits of 0-10, 15-25 and 40-45 s
    assert idle_within(spans, 0.0, 50.0) == 25.0
    assert idle_within(spans, 5.0, 20.0) == 5.0 + 5.0  # the end of the first, the start of the second
    assert idle_within(spans, 26.0, 39.0) == 0.0


def test_share_with_work_is_one_less_the_idle_share_of_all_members_time():
    # Two members over 100 s of window: 200 member-seconds, 20 of them waiting.
    assert share_with_work([(10.0, 10.0), (50.0, 10.0)], 2, 0.0, 100.0) == pytest.approx(0.9)
    assert share_with_work([], 64, 0.0, 100.0) == 1.0
    assert share_with_work([(0.0, 5.0)], 1, 10.0, 10.0) is None  # an empty window has no share


def test_the_steady_state_runs_from_the_first_set_ready_to_the_last_when_every_object_had_one():
    ready = [30.0, 45.0, 200.0]
    assert steady_window(600.0, ready, all_sets_ready=True) == (30.0, 200.0)  # the dry tail 200-600 s left out
    assert steady_window(600.0, ready, all_sets_ready=False) == (30.0, 600.0)  # still generating at the end
    assert steady_window(600.0, ready, all_sets_ready=True, warmup=60.0) == (60.0, 200.0)
    assert steady_window(600.0, [], all_sets_ready=False) is None  # no set ever ready: all warm-up
    assert steady_window(100.0, [150.0], all_sets_ready=True, warmup=120.0) is None


def test_a_whole_run_share_mixes_the_warm_up_and_the_tail_that_the_steady_state_leaves_out():
    # One member: waits 0-30 s for the first set, works 30-200 s but for 2 s, then waits 200-300 s (dry).
    spans = [(0.0, 30.0), (100.0, 2.0), (200.0, 100.0)]
    window = steady_window(300.0, [30.0, 199.0, 200.0], all_sets_ready=True)
    assert share_with_work(spans, 1, 0.0, 300.0) == pytest.approx(1 - 132 / 300, abs=1e-4)
    assert share_with_work(spans, 1, *window) == pytest.approx(1 - 2 / 170, abs=1e-4)


def test_the_backlog_growth_is_the_slope_through_the_second_half_of_the_window():
    from engine.loadtest.waiting import backlog_growth

    def rows(values, every=10.0):
        return [{"t": i * every, "generating": v} for i, v in enumerate(values)]
    # 0-100 s: the first half rises fast (the start's burst of selections), the second by 2 every 10 s.
    growing = rows([0, 40, 80, 120, 160, 200, 202, 204, 206, 208, 210])
    assert backlog_growth(growing, 0.0, 100.0) == pytest.approx(10.0)  # 0.2 a second over the 50 s half
    assert backlog_growth(rows([300, 250, 200, 150, 100, 50, 20, 10, 5, 0, 0]), 0.0, 100.0) < 0  # draining
    noisy = rows([5, 9, 3, 8, 4, 7, 3, 9, 4, 8, 5])  # up and down around a level: about no growth
    assert abs(backlog_growth(noisy, 0.0, 100.0)) < 3
    assert backlog_growth(rows([1, 2]), 0.0, 100.0) is None  # too few samples to say
