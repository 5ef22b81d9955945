"""Ratings on the Elo scale from pairwise games: online Elo, a Bradley–Terry fit, bootstrap intervals.

A game is (a, b, s): players a and b met and a scored s ∈ {1, 0.5, 0}; a tie is half a win to
each side, as Chatbot Arena scores it. Bradley–Terry says P(a beats b) = p_a / (p_a + p_b);
fitted by maximum likelihood
(Newton's method); on the Elo scale a player's rating is ANCHOR + 400 log10(p / geometric mean p), so a gap of
400 points is 10 : 1 odds. This module is pure Python and numpy (no Django).

Disconnected comparison graphs: players who were never linked by a chain of games have no
common scale. `components` numbers the linked groups; `bradley_terry` with a prior fits them
all (the prior's virtual ties against a reference player centre each group near ANCHOR, so a
gap between groups says nothing), and with prior = 0 it refuses any graph where the maximum
likelihood estimate does not exist (not strongly connected: someone never lost or never won
against the rest of their group).
"""

import math

import numpy as np

SCALE = 400.0  # Elo points per factor of 10 in the odds
ANCHOR = 1000.0  # the rating of a player of geometric-mean strength
# Elo's step size. Chatbot Arena uses K = 4 over millions of votes; a project here has hundreds to
# a few thousand comparisons per iteration, and K = 16 lets a rating settle within a few dozen of
# them while one answer moves it at most 16 points.
ELO_K = 16.0
# Virtual tie games each player plays against a reference player at ANCHOR: keeps the fit finite
# for a player who never lost (or never won), common in small samples and bootstrap resamples.
# One tie is worth little beside the tens of real games per player it is meant for.
BT_PRIOR = 1.0


def expected(ra, rb):
    """Return a's expected score against b: 1 / (1 + 10^((rb − ra) / 400))."""
    return 1.0 / (1.0 + 10.0 ** ((rb - ra) / SCALE))


def elo(games, k=ELO_K, initial=ANCHOR):
    """Return {player: rating} after online Elo updates r_a += K (s − E_a), in the order of `games`."""
    ratings = {}
    for a, b, s in games:
        ra, rb = ratings.setdefault(a, initial), ratings.setdefault(b, initial)
        delta = k * (s - expected(ra, rb))
        ratings[a], ratings[b] = ra + delta, rb - delta
    return ratings


def players_of(games):
    """Return the sorted names of every player in `games`."""
    return sorted({a for a, _, _ in games} | {b for _, b, _ in games})


def tallies(games, players):
    """Return (n, w): n[i, j] games between i and j, w[i, j] points i scored against j.  # (P, P) each"""
    index = {p: i for i, p in enumerate(players)}
    n = np.zeros((len(players), len(players)))
    w = np.zeros_like(n)
    for a, b, s in games:
        i, j = index[a], index[b]
        n[i, j] += 1
        n[j, i] += 1
        w[i, j] += s
        w[j, i] += 1 - s
    return n, w


def _reach(adjacency):
    """Return the transitive closure (with self-loops) of a boolean adjacency matrix.  # (P, P)"""
    reach = adjacency | np.eye(len(adjacency), dtype=bool)
    for m in range(len(reach)):  # Floyd–Warshall on booleans
        reach |= reach[:, m : m + 1] & reach[m : m + 1, :]
    return reach


def components(games):
    """Return {player: group number}: players linked by a chain of games share a group, 0 the largest."""
    players = players_of(games)
    n, _ = tallies(games, players)
    reach = _reach(n > 0)
    groups = sorted({tuple(np.flatnonzero(row)) for row in reach}, key=lambda g: (-len(g), g))
    return {players[i]: number for number, group in enumerate(groups) for i in group}


def _loglik(theta, n, w, prior):
    """Return the penalised log-likelihood Σ_ij w_ij log σ(θ_i − θ_j) + prior Σ_i log σ(θ_i)σ(−θ_i) / 2."""
    diff = theta[:, None] - theta[None, :]
    ties = np.logaddexp(0, -theta) + np.logaddexp(0, theta)
    return float(-(w * np.logaddexp(0, -diff)).sum() - prior / 2 * ties.sum())


def _newton(n, w, prior, tol, max_iter):
    """Return log-strengths θ (P,) maximising the Bradley–Terry likelihood with `prior` virtual ties.

    With σ_ij = σ(θ_i − θ_j): gradient g_i = W_i − Σ_j n_ij σ_ij + prior (1/2 − σ(θ_i)), Hessian
    −(Laplacian of n_ij σ_ij σ_ji) − diag(prior σ(θ_i) σ(−θ_i)); the likelihood is concave, so
    damped Newton steps (halved until the likelihood rises) converge in a few dozen steps. The
    reference player at θ = 0 fixes the scale; without a prior the step is the least-squares
    solution, which keeps the mean of θ where it is.
    """
    wins = w.sum(axis=1)
    theta = np.zeros(len(n))
    current = _loglik(theta, n, w, prior)
    for _ in range(max_iter):
        sig = 1 / (1 + np.exp(-(theta[:, None] - theta[None, :])))
        ref = 1 / (1 + np.exp(-theta))
        grad = wins - (n * sig).sum(axis=1) + prior * (0.5 - ref)
        curv = n * sig * sig.T
        hess = np.diag(curv.sum(axis=1) + prior * ref * (1 - ref)) - curv  # minus the Hessian
        step = np.linalg.lstsq(hess, grad, rcond=None)[0]
        for _ in range(50):
            trial = _loglik(theta + step, n, w, prior)
            if trial >= current - 1e-12:
                break
            step = step / 2
        theta, current = theta + step, trial
        if np.max(np.abs(step)) < tol:
            break
    return theta


def fit(n, w, prior=BT_PRIOR, tol=1e-9, max_iter=100):
    """Return Bradley–Terry ratings (P,) on the Elo scale from tallies n, w (see `tallies`)."""
    if prior < 0:
        raise ValueError(f"prior is a number of virtual games and cannot be negative, got {prior}")
    if prior == 0:
        beats = _reach(w > 0)  # i → j when i scored against j: a tie counts both ways
        if not beats.all():
            raise ValueError("no maximum likelihood estimate: some players never lost or never won against "
                             "the others (the win graph is not strongly connected); fit with a prior > 0")
    theta = _newton(n, w, prior, tol, max_iter)
    return ANCHOR + SCALE / math.log(10) * (theta - theta.mean())


def bradley_terry(games, prior=BT_PRIOR):
    """Return {player: Bradley–Terry rating on the Elo scale} fitted to `games` (ties as half wins)."""
    players = players_of(games)
    if not players:
        return {}
    return dict(zip(players, fit(*tallies(games, players), prior=prior).tolist(), strict=True))


def bootstrap(games, rounds=200, seed=0, prior=BT_PRIOR):
    """Return (players, samples): Bradley–Terry ratings refitted on `rounds` resamples of the games.

    samples is (rounds, P); a player absent from a resample is NaN there. Each resample draws
    len(games) games with replacement from a numpy generator seeded with `seed`.
    """
    players = players_of(games)
    samples = np.full((rounds, len(players)), np.nan)
    if not games:
        return players, samples
    index = {p: i for i, p in enumerate(players)}
    a = np.array([index[g[0]] for g in games])
    b = np.array([index[g[1]] for g in games])
    s = np.array([g[2] for g in games], dtype=float)
    rng = np.random.default_rng(seed)
    size = len(players)
    for r in range(rounds):
        pick = rng.integers(0, len(games), len(games))
        n = np.zeros((size, size))
        w = np.zeros((size, size))
        np.add.at(n, (a[pick], b[pick]), 1)
        np.add.at(w, (a[pick], b[pick]), s[pick])
        np.add.at(w, (b[pick], a[pick]), 1 - s[pick])
        n = n + n.T
        present = n.sum(axis=1) > 0
        sub = np.ix_(present, present)
        samples[r, present] = fit(n[sub], w[sub], prior=prior)
    return players, samples


def interval(samples, level=0.95):
    """Return (low, high) percentiles of bootstrap samples (ignoring NaN): 2.5 and 97.5 at level 0.95."""
    samples = np.asarray(samples, dtype=float)
    samples = samples[~np.isnan(samples)]
    if samples.size == 0:
        return (math.nan, math.nan)
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(samples, [tail, 100 - tail])
    return float(low), float(high)
