"""The ratings' cross-check against the hidden truth: per-player means and the paired newer − older difference."""

import pytest

from engine.simulation.truth_check import summary


def test_the_paired_difference_uses_only_the_sets_where_both_proposed():
    per_set = {
        1: {"new": [0.1, 0.3], "old": [0.4], "text_retrieval": [0.05]},   # new − old = 0.2 − 0.4
        2: {"new": [0.2], "old": [0.2, 0.4]},                                # 0.2 − 0.3
        3: {"new": [0.9]},                                                   # old did not propose: left out
    }
    out = summary(per_set, "new", "old")
    assert out["paired"]["sets"] == 2 and out["paired"]["delta"] == pytest.approx(-0.15)
    assert out["paired"]["se"] == pytest.approx(0.05)
    assert out["players"]["new"]["n"] == 4 and out["players"]["new"]["mean"] == pytest.approx(0.375)
    assert out["players"]["text_retrieval"] == {"n": 1, "mean": 0.05, "se": None}


def test_without_two_players_there_is_no_pair():
    assert summary({1: {"a": [0.1]}})["paired"] is None
    assert summary({1: {"a": [0.1]}}, "a", "b")["paired"] is None
