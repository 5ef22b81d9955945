"""Ratings of generators and checkpoints from every stored Stage 2 comparison.

Each comparison is a game between the groups of its two candidates: by generator (the
candidate's generator name) or by checkpoint (the name of the checkpoint that made it). In
the checkpoint table a candidate without a checkpoint plays under its generator's name, as a
reference player: one Bradley–Terry fit over every comparison, as Chatbot Arena rates its
models, so two checkpoints are rated against each other through the retrieval and lifting
candidates both met, not only in their (rarer) direct meetings. A comparison between two
candidates of the same group says nothing about that grouping and is skipped. The math is in
`engine.ranking.elo`.
"""

import math

from engine.core.errors import EngineError
from engine.core.roles import SIMULATED_GROUP
from engine.ranking import elo
from engine.ranking.models import Answer, Comparison

GROUPINGS = ("generator", "checkpoint")
BOOTSTRAP_ROUNDS = 200
SCORE = {Answer.LEFT: 1.0, Answer.RIGHT: 0.0, Answer.EQUAL: 0.5}  # the left candidate's score


def comparisons(project, iterations=None, include_simulated=True):
    """Return the project's comparisons (of the iteration numbers given, if any), oldest first."""
    rows = Comparison.objects.filter(session__candidate_set__iteration__project=project)
    if iterations:
        rows = rows.filter(session__candidate_set__iteration__number__in=list(iterations))
    if not include_simulated:
        rows = rows.exclude(annotator__groups__name=SIMULATED_GROUP)
    return rows.order_by("created_at", "id")


def timed_games(project, grouping="generator", iterations=None, include_simulated=True):
    """Return [(time, a, b, score of a)] of the project's comparisons, players named by `grouping`."""
    if grouping not in GROUPINGS:
        raise ValueError(f"grouping is one of {', '.join(GROUPINGS)}, got {grouping!r}")
    rows = comparisons(project, iterations, include_simulated).values_list(
        "created_at", "left__generator", "left__checkpoint__name", "right__generator", "right__checkpoint__name",
        "answer")
    by_checkpoint = grouping == "checkpoint"
    if by_checkpoint and not any(lc or rc for _, _, lc, _, rc, _ in rows):
        return []  # no checkpoint of ours took part: no checkpoint table, reference players alone say nothing
    named = ((t, (lc if by_checkpoint and lc else lg), (rc if by_checkpoint and rc else rg), answer)
             for t, lg, lc, rg, rc, answer in rows)
    return [(t, a, b, SCORE[answer]) for t, a, b, answer in named if a != b]


def checkpoint_names(project, iterations=None, include_simulated=True):
    """Return the names of the checkpoints whose candidates took part in the project's comparisons."""
    rows = comparisons(project, iterations, include_simulated)
    return ({n for n in rows.values_list("left__checkpoint__name", flat=True) if n}
            | {n for n in rows.values_list("right__checkpoint__name", flat=True) if n})


def games(project, grouping="generator", iterations=None, include_simulated=True):
    """Return [(a, b, score of a)] of the project's comparisons, players named by `grouping`."""
    return [g[1:] for g in timed_games(project, grouping, iterations, include_simulated)]


def rating_history(project, points=8, include_simulated=True):
    """Return {"generators"|"checkpoints": {player: [(time, rating), ...]}}, refitted on the games so far.

    The Bradley–Terry fit is repeated at `points` times spread over the comparisons, so the
    curve shows where each rating stood then, not an online estimate.
    """
    history = {}
    for grouping in GROUPINGS:
        timed = timed_games(project, grouping, include_simulated=include_simulated)
        series = {}
        if timed:
            last = len(timed) - 1
            cuts = sorted({timed[last - round(k * last / max(points - 1, 1))][0] for k in range(points)})
            for cut in cuts:
                for player, rating in elo.bradley_terry([g[1:] for g in timed if g[0] <= cut]).items():
                    series.setdefault(player, []).append((cut, rating))
        history[f"{grouping}s"] = series
    return history


def table(named_games, rounds=BOOTSTRAP_ROUNDS, seed=0):
    """Return one row per player, best Bradley–Terry rating first.

    A row has the Bradley–Terry `rating` with its bootstrap `ci` (2.5 and 97.5 percentiles over
    `rounds` seeded resamples; None when rounds is 0), the online `elo`, `wins`, `losses`,
    `ties`, `comparisons`, and `component` (0 for the largest linked group: ratings compare
    only within one).
    """
    ratings = elo.bradley_terry(named_games)
    online = elo.elo(named_games)
    groups = elo.components(named_games)
    players, samples = elo.bootstrap(named_games, rounds=rounds, seed=seed) if rounds else (list(ratings), None)
    record = {p: {"wins": 0, "losses": 0, "ties": 0} for p in players}
    for a, b, s in named_games:
        for player, score in ((a, s), (b, 1 - s)):
            record[player]["wins" if score == 1 else "losses" if score == 0 else "ties"] += 1
    rows = []
    for k, player in enumerate(players):
        ci = elo.interval(samples[:, k]) if samples is not None else (math.nan, math.nan)
        rows.append({"name": player, "rating": ratings[player], "ci": None if math.isnan(ci[0]) else list(ci),
                     "elo": online[player], **record[player], "comparisons": sum(record[player].values()),
                     "component": groups[player]})
    return sorted(rows, key=lambda r: (-r["rating"], r["name"]))


def difference(named_games, better, worse, rounds=BOOTSTRAP_ROUNDS, seed=0):
    """Return (rating gap better − worse, (low, high) bootstrap interval of the gap)."""
    players, samples = elo.bootstrap(named_games, rounds=rounds, seed=seed)
    ratings = elo.bradley_terry(named_games)
    gap = samples[:, players.index(better)] - samples[:, players.index(worse)]
    return ratings[better] - ratings[worse], elo.interval(gap)


def check_iterations(project, iterations):
    """Raise EngineError (field `iteration`) unless every number names an iteration of the project."""
    known = set(project.iterations.values_list("number", flat=True))
    missing = sorted(set(iterations or ()) - known)
    if missing:
        have = ", ".join(map(str, sorted(known))) or "none yet"
        raise EngineError(f"Project {project.name} has no iteration {missing[0]} (it has: {have}).",
                          fields={"iteration": [f"no iteration {n} in project {project.name}" for n in missing]})


def project_ratings(project, iterations=None, include_simulated=True, rounds=BOOTSTRAP_ROUNDS, seed=0):
    """Return the JSON-ready ratings of a project: its options and a table per grouping."""
    check_iterations(project, iterations)
    result = {"project": project.pk, "iterations": sorted(iterations) if iterations else None,
              "include_simulated": include_simulated, "bootstrap": rounds, "seed": seed,
              "scale": {"anchor": elo.ANCHOR, "points_per_10x_odds": elo.SCALE, "elo_k": elo.ELO_K,
                        "bt_prior_ties": elo.BT_PRIOR}}
    for grouping in GROUPINGS:
        result[f"{grouping}s"] = table(games(project, grouping, iterations, include_simulated), rounds, seed)
    ours = checkpoint_names(project, iterations, include_simulated)
    for row in result["checkpoints"]:
        row["kind"] = "checkpoint" if row["name"] in ours else "generator"
    for row in result["generators"]:
        row["kind"] = "generator"
    return result


def format_table(rows, title="rating"):
    """Return rows of `table` as aligned text, one player a line."""
    head = f"{title:<28} {'BT':>6} {'95% CI':>13} {'Elo':>6} {'W':>5} {'L':>5} {'T':>5} {'n':>6}"
    lines = [head, "-" * len(head)]
    for r in rows:
        ci = f"{r['ci'][0]:.0f}–{r['ci'][1]:.0f}" if r["ci"] else "–"
        group = "" if r["component"] == 0 else f"  (group {r['component']})"
        if title == "checkpoint" and r.get("kind") == "generator":
            group += "  (reference: a generator of no checkpoint)"
        lines.append(f"{r['name'][:28]:<28} {r['rating']:>6.0f} {ci:>13} {r['elo']:>6.0f} {r['wins']:>5} "
                     f"{r['losses']:>5} {r['ties']:>5} {r['comparisons']:>6}{group}")
    if len(lines) == 2:
        lines.append("(no comparisons between different players)")
    return "\n".join(lines)

