"""Quality-control rules with closed-form answers."""

import math

import numpy as np
import pytest

from engine.quality import rules


def test_gold_is_served_at_the_rate():
    regular, gold = 0, 0
    for _ in range(300):
        regular += 1
        while rules.wants_gold(regular, gold, 0.1):
            gold += 1
    assert gold / (gold + regular) == pytest.approx(0.1, abs=0.005)
    assert not rules.wants_gold(10, 0, 0.0)


def test_overlap_copies_go_to_about_the_rate_of_objects_and_always_to_the_same_ones():
    copies = [rules.ranking_copies(i, 1, 0.2) for i in range(4000)]
    assert set(copies) == {1, 2}
    assert copies.count(2) / len(copies) == pytest.approx(0.2, abs=0.02)
    assert copies == [rules.ranking_copies(i, 1, 0.2) for i in range(4000)]
    assert rules.ranking_copies(5, 3, 1.0) == 3  # a project overlap above one is left as it is


def test_a_ranking_is_too_fast_when_half_its_answers_are():
    assert rules.ranking_too_fast([0.05, 0.1, 2.0, 0.2], 0.3)
    assert not rules.ranking_too_fast([0.05, 1.1, 2.0, 0.8], 0.3)
    assert not rules.ranking_too_fast([0.01, 0.01], 0.0)  # 0 turns the check off
    assert rules.fast_answers([0.1, 0.5], 0.3) == (1, 2)


def test_rank_result_needs_an_acceptable_winner_and_the_decision_when_it_is_known():
    answer = {"winners": [3, 4], "accept": False}
    assert rules.rank_result(answer, 4, False)["passed"]
    assert not rules.rank_result(answer, 5, False)["passed"]
    assert not rules.rank_result(answer, 3, True)["passed"]
    assert rules.rank_result({"winners": [3], "accept": None}, 3, True)["passed"]


def _quaternion(axis, degrees):
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    half = math.radians(degrees) / 2
    return [math.cos(half), *(math.sin(half) * axis)]


def test_rotation_error_is_the_angle_between_the_rotations_or_of_the_up_axis_only():
    identity = [1, 0, 0, 0]
    assert rules.rotation_error_deg(_quaternion([0, 0, 1], 30), identity) == pytest.approx(30)
    assert rules.rotation_error_deg([-1, 0, 0, 0], identity) == pytest.approx(0)  # q and −q are one rotation
    yaw = _quaternion([0, 1, 0], 120)  # a turn about the object's up axis
    assert rules.rotation_error_deg(yaw, identity) == pytest.approx(120)
    assert rules.rotation_error_deg(yaw, identity, "up") == pytest.approx(0, abs=1e-6)
    tilt = _quaternion([1, 0, 0], 25)
    assert rules.rotation_error_deg(tilt, identity, "up") == pytest.approx(25)


def test_pose_result_checks_each_tolerance():
    gold = {"rotation": [1, 0, 0, 0], "translation": [0, 0, 2], "scale": 1.0}
    assert rules.pose_result(gold, _quaternion([0, 0, 1], 10), [0.1, 0, 2], 1.1)["passed"]
    assert not rules.pose_result(gold, _quaternion([0, 0, 1], 20), [0, 0, 2], 1.0)["passed"]
    far = rules.pose_result(gold, [1, 0, 0, 0], [0, 0, 2.5], 1.0)
    assert not far["passed"] and far["translation_share"] == pytest.approx(0.25)
    assert not rules.pose_result(gold, [1, 0, 0, 0], [0, 0, 2], 1.3)["passed"]


def test_same_pose_within_a_millionth():
    a = {"rotation": [1, 0, 0, 0], "translation": [0, 0, 2], "scale": 1.0}
    assert rules.same_pose(a, {"rotation": [-1, 0, 0, 0], "translation": [0, 0, 2.0000001], "scale": 1.0})
    assert not rules.same_pose(a, {**a, "scale": 1.01})
