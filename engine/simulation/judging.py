"""How a simulated annotator judges candidate meshes against the hidden true shape.

Distance: the symmetric Chamfer distance between surface samples in the unit cube, the
smaller over turns about the up axis (a person compares shapes, not how a generator happened
to face them): d(C, T) = min_θ ½ (mean_c min_t |R_θ c − t| + mean_t min_c |R_θ c − t|).

Noise: each annotator perceives log(d + floor) + σ ε with ε ~ N(0, 1), fresh for every look (the
floor: two samplings of one shape are about 0.01 apart). For a pair with true log-ratio
δ = log(d_L + floor) − log(d_R + floor) the perceived difference is D ~ N(δ, 2σ²); the
answer is Equal when |D| ≤ m, else the side that looks closer. Two annotators answer a pair
alike with probability Σ_a p_a² (closed form below); engine/simulation/calibration.py sets σ so
that this is the published human–human agreement, 75 %, on the pairs Stage 2 shows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree
from scipy.special import ndtr

from model_suite import category_fit
from model_suite.category_fit import yaw_matrix  # the turn about the up axis (+y); best-of-N's fit turns alike

LEFT, RIGHT, EQUAL = "left", "right", "equal"
POINTS = 2048  # surface samples per mesh: Chamfer of a shape with itself comes out about 0.01
YAWS = 12  # turns about the up axis tried, 30° apart
EQUAL_MARGIN = 0.05  # |log d_L − log d_R| at or below which an annotator answers Equal (5 %)
# σ of the log-distance noise that gives 75 % agreement between two simulated annotators on the pairs
# shown in Stage 2 tournaments of 8 over real candidate sets (figures in engine/simulation/calibration.py).
CALIBRATED_NOISE = 0.35
FLOOR = 0.01  # the distance of a shape to itself, sampled twice: below it two shapes look the same
RATING_SCALE = 0.06  # r = exp(−d̃ / RATING_SCALE): the same shape ≈ 0.85, one of its kind ≈ 0.55, a box ≈ 0.2


def surface_points(vertices, faces, n=POINTS, seed=0):
    """Return (n, 3) points sampled uniformly on the mesh surface."""
    return category_fit.surface_points(vertices, faces, n, seed)


def best_yaw(candidate, truth, yaws=YAWS, fine_step=np.radians(2.5)):
    """Return (distance, θ): the Chamfer distance of R_θ·candidate to truth at the turn θ that minimises it.

    A coarse search over `yaws` turns, then a fine one within half a coarse step (a person
    aligning a mesh turns it until it matches, not in 30° steps).
    """
    truth_tree, candidate_tree = cKDTree(truth), cKDTree(candidate)

    def distance(theta):
        R = yaw_matrix(theta)
        to_truth = truth_tree.query(candidate @ R.T)[0].mean()  # R c against t
        to_candidate = candidate_tree.query(truth @ R)[0].mean()  # t against R c, as R⁻¹ t against c
        return 0.5 * (to_truth + to_candidate)

    coarse = [2 * math.pi * k / yaws for k in range(yaws)]
    best = min((distance(theta), theta) for theta in coarse)
    if fine_step:
        half = math.pi / yaws
        fine = np.arange(-half, half + 1e-9, fine_step) + best[1]
        best = min(best, *((distance(theta), theta) for theta in fine))
    return float(best[0]), float(best[1] % (2 * math.pi))


def shape_distance(candidate, truth, yaws=YAWS):
    """Return the Chamfer distance of (N, 3) candidate points to (M, 3) true points, the best over `yaws` turns."""
    return best_yaw(candidate, truth, yaws, fine_step=0)[0]


def answer_probabilities(delta, noise, margin=EQUAL_MARGIN):
    """Return (p_left, p_right, p_equal) for true log-ratios `delta` (array): D ~ N(δ, 2σ²)."""
    delta = np.asarray(delta, float)
    spread = max(noise, 1e-9) * math.sqrt(2)
    p_left = ndtr((-margin - delta) / spread)
    p_right = 1 - ndtr((margin - delta) / spread)
    return p_left, p_right, 1 - p_left - p_right


def agreement(delta, noise, margin=EQUAL_MARGIN):
    """Return the expected share of pairs two annotators answer alike: mean over pairs of Σ_a p_a²."""
    p = answer_probabilities(delta, noise, margin)
    return float(np.mean(sum(q * q for q in p)))


def log_ratios(pairs):
    """Return δ = log(d_L + floor) − log(d_R + floor) of (d_left, d_right) pairs."""
    d = np.asarray(pairs, float) + FLOOR
    return np.log(d[:, 0]) - np.log(d[:, 1])


@dataclass(frozen=True)
class Judge:
    """One simulated annotator's eye: a noisy, calibrated comparison of distances to the truth."""

    noise: float = CALIBRATED_NOISE
    margin: float = EQUAL_MARGIN
    rating_scale: float = RATING_SCALE

    def perceive(self, distance, rng):
        """Return the distance as this annotator sees it this time: (d + floor) · exp(σ ε)."""
        return (max(distance, 0.0) + FLOOR) * math.exp(self.noise * rng.standard_normal())

    def answer(self, d_left, d_right, rng):
        """Return left, right or equal for candidates at true distances d_left and d_right."""
        diff = math.log(self.perceive(d_left, rng)) - math.log(self.perceive(d_right, rng))
        if abs(diff) <= self.margin:
            return EQUAL
        return LEFT if diff < 0 else RIGHT

    def rating(self, distance, rng):
        """Return r in [0, 1] for the survivor: exp(−d̃ / scale), monotone in the perceived distance."""
        return float(min(1.0, max(0.0, math.exp(-self.perceive(distance, rng) / self.rating_scale))))
