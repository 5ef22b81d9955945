"""Calibrating the Stage 2 noise on real candidate sets: the pairs a tournament shows, and how often two judges agree.

The pairs that matter are those Stage 2 shows: the survivor so far against the next candidate
in a random order, which differ more than two candidates drawn at random (the survivor is
usually good). So agreement is measured on shown pairs: one judge plays the tournament, a
second judge answers each pair it was shown. Measured on 20 composites (`measure_sets(20, library,
seed=0)`: half of library shapes, half of new procedural shapes; candidates of geometric lifting,
silhouette and text retrieval, 4 each, against a library of 60 procedural shapes of seed 0), the
σ giving 75 % agreement is 0.28 over all pairs of a set, and over the pairs shown 0.30 for N = 4,
0.35 for N = 8 (the project default) and 0.38 for N = 12. `judging.CALIBRATED_NOISE` takes the
N = 8 value. The sets are kept in tests/engine/simulation/candidate_distances.json; measuring
them again takes about 85 s on the 2-core machine.
"""

from __future__ import annotations

import numpy as np

from engine.simulation import judging


def shown_pairs(sets, judge, rng, n=8, orders=50):
    """Return the (d_left, d_right) pairs `judge` is shown playing `orders` random tournaments of n per set."""
    pairs = []
    for distances in sets:
        distances = list(distances)
        for _ in range(orders):
            order = [distances[k] for k in rng.choice(len(distances), size=min(n, len(distances)), replace=False)]
            survivor = order[0]
            for incoming in order[1:]:
                pairs.append((survivor, incoming))
                answer = judge.answer(survivor, incoming, rng)
                if answer == judging.RIGHT or (answer == judging.EQUAL and rng.uniform() < 0.5):
                    survivor = incoming
    return pairs


def measured_agreement(pairs, judge, rng):
    """Return the share of pairs two independent draws of `judge` answer alike (Monte Carlo)."""
    same = sum(judge.answer(a, b, rng) == judge.answer(a, b, rng) for a, b in pairs)
    return same / max(len(pairs), 1)


def calibrate(sets, n=8, target=0.75, orders=50, seed=0):
    """Return the σ at which two judges agree on `target` of the pairs shown in tournaments of n over `sets`."""
    lo, hi = 0.05, 2.0
    for _ in range(25):
        mid = (lo * hi) ** 0.5
        judge = judging.Judge(noise=mid)
        pairs = shown_pairs(sets, judge, np.random.default_rng(seed), n, orders)  # common random numbers
        if judging.agreement(judging.log_ratios(pairs), mid, judge.margin) > target:
            lo = mid
        else:
            hi = mid
    return (lo * hi) ** 0.5


def measure_sets(count, library_dir, seed=0, per_generator=4, size=320):
    """Return `count` lists of candidate distances to the truth, from composites rendered in memory.

    Half the truths are library shapes (retrieval can find them), half new procedural shapes.
    """
    from model_suite.base import GenerationContext
    from model_suite.depth import depth_to_points
    from model_suite.registry import build_suite

    from engine.simulation import composites

    generators = [g for g in build_suite({"library_dir": str(library_dir), "refine_pose": False})
                  if g.availability().ok]
    photos = list(composites.load_photos().values())
    known = composites.library_shapes(library_dir)
    new = composites.procedural_shapes(count, seed + 1000)
    sets = []
    for i in range(count):
        rng = np.random.default_rng([seed, i])
        shape = known[int(rng.integers(len(known)))] if i % 2 == 0 else new[i]
        comp = composites.render(shape, photos, rng, size)
        points, _ = depth_to_points(comp.depth, comp.intrinsics)
        context = GenerationContext(category=shape.category, description=shape.caption, point_cloud=points,
                                    intrinsics=dict(comp.intrinsics, width=size, height=size))
        truth = judging.surface_points(shape.vertices, shape.faces, seed=1)
        sets.append([judging.shape_distance(judging.surface_points(c.vertices, c.faces), truth)
                     for g in generators for c in g.generate(comp.image, comp.mask, context, per_generator, i)])
    return sets
