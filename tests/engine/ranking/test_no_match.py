"""Stage 2's "none of these is this object": rated 0, routed to the artists under a failure category of its own."""

import pytest

from engine.artists.models import ArtistCase, FailureCategory
from engine.candidates.models import SetStatus
from engine.intake.models import ObjectStatus
from engine.leases.models import Stage, Task
from tests.engine.ranking.test_api import claim, play

pytestmark = pytest.mark.django_db


def rate(client, task, **body):
    return client.post(f"/api/tasks/{task['id']}/submit/", body, format="json")


def test_the_payload_offers_it_apart_from_the_reasons_below_the_bar(api, annotator, project, candidate_set):
    payload = claim(api(annotator), project)["payload"]
    assert payload["no_match"] == {"failure_category": "no_match", "level": 0, "rating": 0.0,
                                   "label": "none of the candidates is this object"}
    assert "no_match" not in [f["value"] for f in payload["failure_categories"]]
    assert [f["value"] for f in payload["failure_categories"]][-1] == "other"


@pytest.mark.parametrize("alpha", [0.5, 0.0])
def test_none_of_these_routes_the_set_to_the_artists_as_no_match(api, annotator, artist, project, candidate_set, alpha):
    project.alpha = alpha  # at α = 0 every rating meets the bar, yet no candidate is the object
    project.save()
    client = api(annotator)
    task = claim(client, project)
    play(client, task, ["left", "right", "left"])
    answer = rate(client, task, level=0, failure_category="no_match")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["routed_to"] == "artist" and body["failure_category"] == "no_match" and body["rating"] == 0.0
    case = ArtistCase.objects.get(candidate_set=candidate_set)
    assert case.failure_category == FailureCategory.NO_MATCH and case.best_candidate_id == body["winner"]
    candidate_set.refresh_from_db()
    assert candidate_set.status == SetStatus.FAILED
    assert candidate_set.object.status == ObjectStatus.ARTIST
    assert not Task.objects.filter(candidate_set=candidate_set, stage=Stage.ALIGN).exists()
    # The artists can ask for these cases alone.
    served = api(artist).post("/api/tasks/claim/", {"project": project.pk, "stage": "artist",
                                                     "failure_category": "no_match"}, format="json").json()
    assert served["id"] == case.task_id


def test_none_of_these_with_a_rating_above_zero_is_a_400_naming_the_field(api, annotator, project, candidate_set):
    client = api(annotator)
    task = claim(client, project)
    play(client, task, ["left", "right", "left"])
    answer = rate(client, task, level=3, failure_category="no_match")
    assert answer.status_code == 400
    assert "failure_category" in answer.json()["fields"] and "level 0" in answer.json()["detail"]
    assert not ArtistCase.objects.exists()
