"""What Stage 2 should have found: each player's candidates against the hidden truth (simulated data only).

On render-paste composites the engine knows the true shape, so the ratings from the comparisons can
be checked against the distance the simulated judges perceive before their noise (engine/simulation/judging.py):
for each checkpoint (or generator, for candidates of no checkpoint), the mean Chamfer distance of its
candidates to the truth, and for two players the paired difference over the sets where both proposed.
A rating interval that includes 0 while this difference is clear says the comparisons were too few
to see it, not that the models are alike.

The pool's TruthBook held the same distances while it ran, but per iteration, in the collecting
process, and measured on the browser's quantized GLB; this reads each candidate's stored mesh once
more after the run (about 6 s for the demo's sets), so the check does not depend on what was judged.
"""

import math
from collections import defaultdict

from engine.candidates.models import Candidate
from engine.simulation import judging
from engine.simulation.models import SimulatedTruth


def _mean_se(values):
    n = len(values)
    mean = sum(values) / n
    se = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1) / n) if n > 1 else None
    return mean, se


def distances(project, iterations=None):
    """Return {set id: {player: [distance of each of its candidates to the truth]}} over the project's composites."""
    from model_suite.meshio import load_mesh

    truths = {t.image_id: t for t in SimulatedTruth.objects.filter(image__project=project)}
    rows = (Candidate.objects.filter(candidate_set__object__image__project=project,
                                     candidate_set__object__image_id__in=list(truths))
            .select_related("candidate_set__object", "checkpoint").order_by("id"))
    if iterations:
        rows = rows.filter(candidate_set__iteration__number__in=list(iterations))
    points, out = {}, defaultdict(lambda: defaultdict(list))
    for c in rows:
        image_id = c.candidate_set.object.image_id
        if image_id not in points:
            with truths[image_id].mesh.open("rb") as f:
                points[image_id] = judging.surface_points(*load_mesh(f.read()), seed=1)
        with c.mesh.open("rb") as f:
            vertices, faces = load_mesh(f.read())
        player = c.checkpoint.name if c.checkpoint_id else c.generator
        out[c.candidate_set_id][player].append(
            judging.shape_distance(judging.surface_points(vertices, faces), points[image_id]))
    return out


def summary(per_set, newer=None, older=None):
    """Return {players: {name: {n, mean, se}}, paired: {newer, older, delta, se, sets} or None}."""
    by_player = defaultdict(list)
    for players in per_set.values():
        for name, values in players.items():
            by_player[name] += values
    players = {}
    for name, values in sorted(by_player.items()):
        mean, se = _mean_se(values)
        players[name] = {"n": len(values), "mean": mean, "se": se}
    paired = None
    if newer and older:
        deltas = [sum(s[newer]) / len(s[newer]) - sum(s[older]) / len(s[older])
                  for s in per_set.values() if s.get(newer) and s.get(older)]
        if deltas:
            delta, se = _mean_se(deltas)
            paired = {"newer": newer, "older": older, "delta": delta, "se": se, "sets": len(deltas)}
    return {"players": players, "paired": paired}
