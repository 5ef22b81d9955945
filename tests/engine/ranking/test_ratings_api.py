"""GET /api/projects/<id>/ratings/ and `manage.py ratings`."""

import json

import pytest
from django.core.management import CommandError, call_command

from engine.ranking.models import Answer
from tests.engine.ranking.comparisons import candidates, head_to_head, iteration, play

pytestmark = pytest.mark.django_db


@pytest.fixture
def compared(project, image, annotator):
    """Two iterations: a retrieval generator against two checkpoints of the flow model."""
    old, shelf = candidates(image, iteration(project, 1), [("flow", "flow-it1"), ("shelf", None)])
    head_to_head(annotator, old, shelf, games=20, share=0.5, seed=1)
    older, newer, shelf2 = candidates(image, iteration(project, 2), [
        ("flow", "flow-it1"), ("flow", "flow-it2"), ("shelf", None)])
    head_to_head(annotator, newer, older, games=30, share=0.7, seed=2)
    play(annotator, [(shelf2, newer, Answer.EQUAL)])
    return project


def test_engineers_get_ratings_by_generator_and_checkpoint(api, engineer, compared):
    response = api(engineer).get(f"/api/projects/{compared.pk}/ratings/", {"bootstrap": 50})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["bootstrap"], body["include_simulated"], body["iterations"]) == (50, True, None)
    assert {r["name"] for r in body["generators"]} == {"flow", "shelf"}
    checkpoints = {r["name"]: r for r in body["checkpoints"]}
    assert set(checkpoints) == {"flow-it1", "flow-it2", "shelf"} and checkpoints["flow-it2"]["comparisons"] == 31
    assert {r["kind"] for r in body["generators"]} == {"generator"}
    assert {n: r["kind"] for n, r in checkpoints.items()} == {
        "flow-it1": "checkpoint", "flow-it2": "checkpoint", "shelf": "generator"}  # the reference player
    row = checkpoints["flow-it1"]
    assert row["ci"][0] <= row["rating"] <= row["ci"][1]
    assert row["wins"] + row["losses"] + row["ties"] == row["comparisons"]

    only_second = api(engineer).get(f"/api/projects/{compared.pk}/ratings/?iteration=2&bootstrap=0").json()
    assert only_second["iterations"] == [2] and only_second["checkpoints"][0]["ci"] is None
    assert sum(r["comparisons"] for r in only_second["generators"]) == 2  # the one flow-shelf tie
    both = api(engineer).get(f"/api/projects/{compared.pk}/ratings/?iteration=1&iteration=2&bootstrap=0").json()
    assert both["iterations"] == [1, 2]
    humans = api(engineer).get(f"/api/projects/{compared.pk}/ratings/?include_simulated=false&bootstrap=0").json()
    assert humans["include_simulated"] is False and len(humans["checkpoints"]) == 3


@pytest.mark.parametrize("query, field", [
    ("bootstrap=-1", "bootstrap"), ("bootstrap=lots", "bootstrap"), ("bootstrap=100000", "bootstrap"),
    ("iteration=two", "iteration"), ("iteration=0", "iteration"), ("iteration=9", "iteration"),
    ("include_simulated=maybe", "include_simulated"), ("seed=-3", "seed"),
])
def test_bad_query_values_are_400_with_the_field(api, engineer, compared, query, field):
    response = api(engineer).get(f"/api/projects/{compared.pk}/ratings/?{query}")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and field in body["fields"] and body["detail"]


def test_ratings_are_for_engineers(api, annotator, engineer, compared):
    assert api(annotator).get(f"/api/projects/{compared.pk}/ratings/").status_code == 403
    assert api(engineer).get("/api/projects/999999/ratings/").json()["code"] == "not_found"


def test_the_schema_lists_the_ratings_and_their_parameters(api, annotator):
    schema = api(annotator).get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/api/projects/{id}/ratings/"]["get"]
    assert {"iteration", "bootstrap", "include_simulated", "seed"} <= {p["name"] for p in operation["parameters"]}


def test_the_command_prints_tables_and_writes_json(compared, tmp_path, capsys):
    out = tmp_path / "ratings.json"
    call_command("ratings", "--project", compared.name, "--iteration", "2", "--bootstrap", "20", "--json", str(out))
    printed = capsys.readouterr().out
    assert "flow-it2" in printed and "95% CI" in printed and "generator" in printed
    written = json.loads(out.read_text())
    assert written["iterations"] == [2] and written["bootstrap"] == 20
    checkpoint_table = printed.split("\ncheckpoint")[1].split("\nWrote")[0].splitlines()[2:]
    assert [r["name"] for r in written["checkpoints"]] == [r.split()[0] for r in checkpoint_table if r.strip()]
    assert "shelf" in next(r for r in checkpoint_table if r.startswith("shelf")) and "(reference" in printed


@pytest.mark.parametrize("argv, message", [
    (["--project", "nope"], "No project named 'nope'"),
    (["--project", "test", "--iteration", "7"], "no iteration 7"),
    (["--project", "test", "--bootstrap", "-2"], "--bootstrap"),
])
def test_the_command_refuses_bad_input(compared, argv, message):
    with pytest.raises(CommandError, match=message):
        call_command("ratings", *argv)
