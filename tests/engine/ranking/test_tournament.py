import random

import pytest

from engine.ranking import tournament as t


def run(order, answers, seed=0):
    rng = random.Random(seed)
    state = t.start(order)
    log = []
    for answer in answers:
        before = state
        state, kept, tie = t.answer(order, state, answer, rng)
        log.append((before.left, before.right, kept, tie))
    return state, log


def test_single_candidate_needs_no_comparison():
    state = t.start([7])
    assert state.done and state.winner == 7 and state.position == 0


def test_two_candidates_one_comparison():
    state, log = run([1, 2], ["right"])
    assert state.done and state.winner == 2
    assert log == [(1, 2, 2, False)]


def test_loser_is_replaced_by_next_candidate_winner_keeps_its_side():
    order = [10, 11, 12, 13]
    state = t.start(order)
    assert (state.left, state.right) == (10, 11)
    state, kept, _ = t.answer(order, state, "left")
    assert kept == 10 and (state.left, state.right) == (10, 12)
    state, kept, _ = t.answer(order, state, "right")
    assert kept == 12 and (state.left, state.right) == (13, 12)
    state, kept, _ = t.answer(order, state, "left")
    assert state.done and state.winner == 13 and state.position == 3


def test_eight_candidates_take_seven_comparisons_and_show_all():
    order = list(range(100, 108))
    state, log = run(order, ["left", "right", "equal", "left", "equal", "right", "left"], seed=3)
    assert state.done and state.position == 7 and state.shown == 8
    shown = {c for left, right, _, _ in log for c in (left, right)}
    assert shown == set(order)
    assert state.winner == log[-1][2]
    assert sorted(t.rejected(order, state.winner) + [state.winner]) == order


def test_equal_keeps_one_at_random_and_records_it():
    order = [1, 2, 3]
    kept_values = set()
    for seed in range(20):
        _, log = run(order, ["equal", "left"], seed=seed)
        assert log[0][3] is True
        kept_values.add(log[0][2])
    assert kept_values == {1, 2}


def test_replay_reproduces_state_and_rejects_inconsistent_history():
    order = [5, 6, 7, 8]
    state, log = run(order, ["equal", "right", "left"], seed=1)
    replayed = t.replay(order, [(left, right, kept) for left, right, kept, _ in log])
    assert replayed == state
    with pytest.raises(t.TournamentError):
        t.replay(order, [(6, 5, 5)])


def test_answer_after_done_and_bad_answer_are_refused():
    state, _ = run([1, 2], ["left"])
    with pytest.raises(t.TournamentError):
        t.answer([1, 2], state, "left")
    with pytest.raises(t.TournamentError):
        t.answer([1, 2, 3], t.start([1, 2, 3]), "up")


def test_order_must_not_repeat():
    with pytest.raises(t.TournamentError):
        t.start([1, 1])
