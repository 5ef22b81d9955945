"""Ratings of generators and checkpoints from stored comparisons."""

import pytest
from django.contrib.auth.models import Group

from engine.core.errors import EngineError
from engine.ranking import ratings
from engine.ranking.models import Answer
from tests.engine.ranking.comparisons import candidates, head_to_head, iteration, play

pytestmark = pytest.mark.django_db


@pytest.fixture
def simulated(db):
    from tests.engine.conftest import make_user

    user = make_user("sim-1")
    user.groups.add(Group.objects.get_or_create(name=ratings.SIMULATED_GROUP)[0])
    return user


def test_games_by_generator_and_by_checkpoint_skip_comparisons_within_a_group(project, image, annotator):
    """By checkpoint, a candidate of no checkpoint plays under its generator's name (a reference player)."""
    old, new, again, shelf = candidates(image, iteration(project, 1), [
        ("flow", "ckpt-1"), ("flow", "ckpt-2"), ("flow", "ckpt-2"), ("retrieval", None)])
    play(annotator, [(old, new, Answer.RIGHT), (new, again, Answer.LEFT), (shelf, new, Answer.EQUAL)])

    assert ratings.games(project, "generator") == [("retrieval", "flow", 0.5)]
    assert ratings.games(project, "checkpoint") == [("ckpt-1", "ckpt-2", 0.0), ("retrieval", "ckpt-2", 0.5)]
    assert ratings.checkpoint_names(project) == {"ckpt-1", "ckpt-2"}
    with pytest.raises(ValueError, match="grouping"):
        ratings.games(project, "kind")


def test_options_choose_iterations_and_simulated_annotators(project, image, annotator, simulated):
    a1, b1 = candidates(image, iteration(project, 1), [("a", None), ("b", None)])
    a2, b2 = candidates(image, iteration(project, 2), [("a", None), ("b", None)])
    play(annotator, [(a1, b1, Answer.LEFT)])
    play(annotator, [(a2, b2, Answer.RIGHT)])
    play(simulated, [(a2, b2, Answer.EQUAL)])

    assert ratings.games(project) == [("a", "b", 1.0), ("a", "b", 0.0), ("a", "b", 0.5)]
    assert ratings.games(project, iterations=[2]) == [("a", "b", 0.0), ("a", "b", 0.5)]
    assert ratings.games(project, include_simulated=False) == [("a", "b", 1.0), ("a", "b", 0.0)]
    assert ratings.games(project, iterations=[1, 2], include_simulated=False) == [("a", "b", 1.0), ("a", "b", 0.0)]


def test_table_counts_the_record_of_each_player():
    games = [("a", "b", 1.0)] * 3 + [("b", "a", 1.0), ("a", "c", 0.5)]
    rows = {r["name"]: r for r in ratings.table(games, rounds=50)}
    assert (rows["a"]["wins"], rows["a"]["losses"], rows["a"]["ties"], rows["a"]["comparisons"]) == (3, 1, 1, 5)
    assert (rows["c"]["wins"], rows["c"]["ties"], rows["c"]["comparisons"]) == (0, 1, 1)
    assert rows["a"]["ci"][0] <= rows["a"]["rating"] <= rows["a"]["ci"][1]
    assert list(rows) == ["a", "c", "b"]  # best first
    assert ratings.table(games, rounds=0)[0]["ci"] is None
    assert ratings.table([]) == []
    assert "a" in ratings.format_table(ratings.table(games, rounds=0), "generator")


def test_a_newer_checkpoint_winning_seventy_percent_is_measurably_better(project, image, annotator):
    older, newer = candidates(image, iteration(project, 2), [("flow", "flow-it1"), ("flow", "flow-it2")])
    head_to_head(annotator, newer, older, games=200, share=0.7, seed=3)

    games = ratings.games(project, "checkpoint")
    assert len(games) == 200
    gap, (low, high) = ratings.difference(games, "flow-it2", "flow-it1", rounds=200, seed=0)
    assert 0 < low < gap < high  # the interval of the gap excludes no difference
    assert gap == pytest.approx(400 * 0.368, abs=60)  # 70 % wins is odds 7:3, 147 Elo points
    result = ratings.project_ratings(project, rounds=100)
    assert [r["name"] for r in result["checkpoints"]] == ["flow-it2", "flow-it1"]
    assert result["generators"] == []  # both are the same generator


def test_unknown_iterations_are_refused_with_the_field(project):
    iteration(project, 1)
    with pytest.raises(EngineError) as err:
        ratings.project_ratings(project, iterations=[1, 5])
    assert err.value.fields == {"iteration": ["no iteration 5 in project test"]}
