"""The curriculum's rules: group shares from progress, category shares with the floor (closed forms)."""

import pytest

from engine.intake.curriculum import CurriculumError, Group, category_shares, group_shares, groups_of, progress
from engine.intake.taxonomy import default_taxonomy_slugs, load_curriculum

TAXONOMY = default_taxonomy_slugs()
G = [Group("rigid", ("box", "mug"), 10), Group("structured", ("chair",), 20), Group("deformable", ("dog", "cat"), 10)]


def test_the_shipped_order_is_simple_rigid_then_structured_then_deformable():
    groups = groups_of([], TAXONOMY, 100)
    assert [g.name for g in groups] == ["rigid", "structured", "deformable"]
    assert {g.target for g in groups} == {100}
    assert "box" in groups[0].categories and "chair" in groups[1].categories and "dog" in groups[2].categories
    grouped = {c for g in groups for c in g.categories}
    assert set(TAXONOMY) - grouped == {"other"}  # the long tail keeps only the floor
    assert [g["group"] for g in load_curriculum()] == ["rigid", "structured", "deformable"]


@pytest.mark.parametrize("samples,expected", [
    ({}, {"rigid": 1.0, "structured": 0.0, "deformable": 0.0}),  # only the first group is open
    ({"rigid": 5}, {"rigid": 0.5, "structured": 0.5, "deformable": 0.0}),  # half way: half of it moves on
    ({"rigid": 10, "structured": 10}, {"rigid": 0.0, "structured": 0.5, "deformable": 0.5}),
    ({"rigid": 10, "structured": 5}, {"rigid": 0.0, "structured": 0.75, "deformable": 0.25}),
    ({"rigid": 30, "structured": 20, "deformable": 10}, {"rigid": 0.25, "structured": 0.5, "deformable": 0.25}),
])
def test_each_group_s_share_grows_as_the_groups_before_it_reach_their_targets(samples, expected):
    assert group_shares(G, samples) == pytest.approx(expected)


def test_category_shares_split_the_group_s_share_and_keep_the_floor():
    floor = 0.01
    shares = category_shares(G, {"box": 3, "mug": 2}, TAXONOMY, floor)  # rigid half way: 0.5 / 0.5 / 0
    rest = 1 - floor * len(TAXONOMY)
    assert sum(shares.values()) == pytest.approx(1.0)
    assert shares["box"] == shares["mug"] == pytest.approx(floor + rest * 0.25)
    assert shares["chair"] == pytest.approx(floor + rest * 0.5)
    assert shares["dog"] == shares["other"] == shares["sofa"] == pytest.approx(floor)  # locked, or in no group
    assert min(shares.values()) >= floor


def test_without_a_floor_a_locked_group_gets_nothing():
    shares = category_shares(G, {}, ["box", "mug", "chair", "dog", "cat"], 0.0)
    assert shares == {"box": 0.5, "mug": 0.5, "chair": 0.0, "dog": 0.0, "cat": 0.0}


def test_a_floor_larger_than_the_whole_is_refused():
    with pytest.raises(CurriculumError, match="at most 0.0256"):
        category_shares(G, {}, TAXONOMY, 0.05)


def test_a_project_s_own_groups_leave_out_what_its_taxonomy_leaves_out():
    groups = groups_of([{"group": "easy", "categories": ["box", "dog"], "target": 5}, {"group": "structured"}],
                       ["box", "chair"], 50)
    assert groups == [Group("easy", ("box",), 5), Group("structured", ("chair",), 50)]


@pytest.mark.parametrize("curriculum,message", [
    ({"group": "rigid"}, "is a list of groups"),
    ([{"categories": ["box"]}], "needs a 'group' name"),
    ([{"group": "mine"}], "not a shipped group"),
    ([{"group": "a", "categories": ["warp-core"]}], "'warp-core' is not a category"),
    ([{"group": "a", "categories": ["box"]}, {"group": "b", "categories": ["box"]}], "a category has one group"),
    ([{"group": "a", "categories": ["box"], "target": 0}], "at least 1"),
    ([{"group": "a", "categories": ["box"]}, {"group": "a", "categories": ["mug"]}], "appears twice"),
])
def test_a_malformed_curriculum_says_what_is_wrong(curriculum, message):
    with pytest.raises(CurriculumError, match=message):
        groups_of(curriculum, TAXONOMY, 10)


def test_progress_rows_say_which_targets_are_met():
    rows = progress(G, {"box": 6, "mug": 4, "chair": 3})
    assert [(r["group"], r["samples"], r["target"], r["done"]) for r in rows] == [
        ("rigid", 10, 10, True), ("structured", 3, 20, False), ("deformable", 0, 10, False)]
