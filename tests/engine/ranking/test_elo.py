"""Elo, Bradley–Terry and bootstrap intervals against closed-form answers (no database)."""

import math

import numpy as np
import pytest

from engine.ranking import elo


def test_bradley_terry_gives_odds_three_when_a_beats_b_three_of_four():
    ratings = elo.bradley_terry([("a", "b", 1.0)] * 3 + [("b", "a", 1.0)], prior=0)
    # p_a / p_b = 3 exactly, i.e. 400 log10 3 Elo points, centred on the anchor.
    assert ratings["a"] - ratings["b"] == pytest.approx(400 * math.log10(3), abs=1e-6)
    assert (ratings["a"] + ratings["b"]) / 2 == pytest.approx(elo.ANCHOR)


def test_ties_are_half_wins():
    assert elo.bradley_terry([("a", "b", 0.5)] * 4, prior=0) == pytest.approx({"a": 1000.0, "b": 1000.0})
    # One win and two ties: a scored 2 of 3, the same odds as 2 wins in 3 games.
    with_ties = elo.bradley_terry([("a", "b", 1.0), ("a", "b", 0.5), ("b", "a", 0.5)], prior=0)
    plain = elo.bradley_terry([("a", "b", 1.0), ("a", "b", 1.0), ("b", "a", 1.0)], prior=0)
    assert with_ties == pytest.approx(plain)


def test_three_players_recover_the_fixed_point():
    games = [("a", "b", 1.0)] * 2 + [("b", "a", 1.0)] + [("b", "c", 1.0)] * 3 + [("c", "b", 1.0)] + [
        ("a", "c", 1.0), ("c", "a", 0.5)]
    ratings = elo.bradley_terry(games, prior=0)
    p = {k: 10 ** ((v - 1000) / 400) for k, v in ratings.items()}
    n, w = elo.tallies(games, ["a", "b", "c"])
    for i, name in enumerate("abc"):  # the likelihood equations: W_i = Σ_j n_ij p_i / (p_i + p_j)
        fitted = sum(n[i, j] * p[name] / (p[name] + p[other]) for j, other in enumerate("abc"))
        assert fitted == pytest.approx(w[i].sum(), abs=1e-6)


def test_an_unbeaten_player_needs_the_prior():
    with pytest.raises(ValueError, match="strongly connected"):
        elo.bradley_terry([("a", "b", 1.0)] * 5, prior=0)
    ratings = elo.bradley_terry([("a", "b", 1.0)] * 5)
    assert math.isfinite(ratings["a"]) and ratings["a"] > ratings["b"]
    assert elo.bradley_terry([]) == {}


def test_disconnected_groups_are_numbered_and_each_centred_by_the_prior():
    games = [("a", "b", 1.0), ("b", "a", 1.0), ("a", "b", 1.0), ("c", "d", 1.0), ("d", "c", 0.5)]
    assert elo.components(games) == {"a": 0, "b": 0, "c": 1, "d": 1}
    ratings = elo.bradley_terry(games)
    assert ratings["a"] > ratings["b"] and ratings["c"] > ratings["d"]
    with pytest.raises(ValueError):
        elo.bradley_terry(games, prior=0)


def test_elo_is_zero_sum_and_symmetric():
    once = elo.elo([("a", "b", 1.0)])
    assert once == {"a": 1000 + elo.ELO_K / 2, "b": 1000 - elo.ELO_K / 2}  # equal players expect 0.5 each
    games = [("a", "b", 1.0), ("b", "c", 0.5), ("c", "a", 0.0), ("a", "b", 0.0)]
    flipped = [(b, a, 1 - s) for a, b, s in games]  # the same games, told from the other side
    assert elo.elo(games) == pytest.approx(elo.elo(flipped))
    assert sum(elo.elo(games).values()) == pytest.approx(3 * 1000)
    assert elo.elo([("a", "b", 0.5)]) == {"a": 1000, "b": 1000}


def test_bootstrap_interval_contains_the_truth_on_simulated_games():
    rng = np.random.default_rng(7)
    truth = {"a": 1100.0, "b": 1000.0, "c": 900.0}  # geometric mean at the anchor
    names = list(truth)
    games = []
    for _ in range(600):
        i, j = rng.choice(3, size=2, replace=False)
        a, b = names[i], names[j]
        games.append((a, b, float(rng.random() < elo.expected(truth[a], truth[b]))))
    players, samples = elo.bootstrap(games, rounds=200, seed=1)
    assert samples.shape == (200, 3) and players == names
    for k, name in enumerate(players):
        low, high = elo.interval(samples[:, k])
        assert low < truth[name] < high, (name, low, high)
        assert high - low < 120  # 400 games per player pin a rating to tens of points
    again = elo.bootstrap(games, rounds=200, seed=1)[1]
    assert np.array_equal(samples, again)  # seeded


def test_bootstrap_marks_a_player_missing_from_a_resample():
    players, samples = elo.bootstrap([("a", "b", 1.0)] * 20 + [("a", "c", 0.0)], rounds=50, seed=0)
    assert np.isnan(samples[:, players.index("c")]).any()
    assert all(math.isfinite(v) for v in elo.interval(samples[:, players.index("c")]))
    assert all(math.isnan(v) for v in elo.interval([]))
