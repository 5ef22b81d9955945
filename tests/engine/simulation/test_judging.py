"""The simulated eye: distances to the truth, the closed-form agreement, and its calibration to 75 %."""

import json
from pathlib import Path

import numpy as np
import pytest
import trimesh

from engine.simulation import calibration, judging

# Distances to the truth of the candidates of 20 composites (geometric lifting, silhouette and text
# retrieval, 4 each), measured by calibration.measure_sets; see its docstring to measure them again.
SETS = json.loads((Path(__file__).parent / "candidate_distances.json").read_text())["sets"]


def points(mesh, seed=0):
    return judging.surface_points(mesh.vertices, mesh.faces, seed=seed)


def test_a_shape_is_nearest_itself_whichever_way_it_faces():
    box = trimesh.creation.box((1.0, 0.5, 0.3))
    turned = box.copy().apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [0, 1, 0]))
    truth = points(box, seed=1)
    itself, facing_away = judging.shape_distance(points(box), truth), judging.shape_distance(points(turned), truth)
    other = judging.shape_distance(points(trimesh.creation.icosphere().apply_scale(0.5)), truth)
    assert itself < judging.FLOOR * 1.5 and facing_away < judging.FLOOR * 1.5
    assert other > 5 * itself


def test_the_closed_form_agreement_is_what_two_judges_do():
    rng = np.random.default_rng(0)
    pairs = [(a, b) for a, b in rng.uniform(0.0, 0.15, size=(400, 2))]
    judge = judging.Judge(noise=0.35)
    closed = judging.agreement(judging.log_ratios(pairs), judge.noise, judge.margin)
    simulated = np.mean([calibration.measured_agreement(pairs, judge, rng) for _ in range(10)])
    assert simulated == pytest.approx(closed, abs=0.01)
    # Without noise two judges always agree, and the answer is the closer side (Equal within the margin).
    exact = judging.Judge(noise=0.0)
    assert judging.agreement(judging.log_ratios(pairs), 0.0) == 1.0
    assert exact.answer(0.02, 0.05, rng) == "left" and exact.answer(0.05, 0.02, rng) == "right"
    assert exact.answer(0.050, 0.051, rng) == "equal"


def test_two_simulated_annotators_agree_on_three_quarters_of_the_pairs_they_are_shown():
    judge = judging.Judge()  # the calibrated noise
    rng = np.random.default_rng(1)
    shown = calibration.shown_pairs(SETS, judge, rng, n=8, orders=30)
    agreement = calibration.measured_agreement(shown, judge, rng)
    assert 0.72 <= agreement <= 0.78, agreement
    assert judging.CALIBRATED_NOISE == pytest.approx(calibration.calibrate(SETS, n=8, orders=30), abs=0.03)
    # The noise matters: half of it and twice it move agreement well away from 75 %.
    assert calibration.measured_agreement(shown, judging.Judge(noise=judge.noise / 2), rng) > 0.8
    assert calibration.measured_agreement(shown, judging.Judge(noise=judge.noise * 2), rng) < 0.68


def test_the_rating_falls_with_the_distance():
    judge, rng = judging.Judge(noise=0.0), np.random.default_rng(0)
    ratings = [judge.rating(d, rng) for d in (0.0, 0.02, 0.05, 0.1, 0.3)]
    assert ratings == sorted(ratings, reverse=True) and 0.0 <= ratings[-1] and ratings[0] <= 1.0
    assert ratings[0] > 0.8 and ratings[3] < 0.25


def test_best_yaw_finds_the_turn_that_lays_a_mesh_onto_the_truth():
    chair = trimesh.creation.box((1.0, 0.5, 0.3)).union(trimesh.creation.box((0.2, 1.0, 0.2)).apply_translation([0.4, 0, 0]))
    truth = points(chair, seed=1)
    for degrees in (0, 40, 137, 250):
        turned = chair.copy().apply_transform(trimesh.transformations.rotation_matrix(np.radians(degrees), [0, 1, 0]))
        distance, theta = judging.best_yaw(points(turned), truth)
        # R_θ undoes the turn: θ = −degrees (mod 360°), to the fine step of 2.5°.
        error = (np.degrees(theta) + degrees + 180) % 360 - 180
        assert abs(error) <= 1.25 + 1e-6 and distance < 2 * judging.FLOOR * 1.5, (degrees, np.degrees(theta), distance)
