"""Stage 2 over HTTP: claim, compare (with Equal), rate, routing at α."""

import pytest
from django.db.models import Count

from engine.artists.models import ArtistCase
from engine.candidates.models import SetStatus
from engine.leases.models import Stage, Task, TaskStatus
from engine.ranking.models import Comparison, RankingSession
from engine.records.models import PreferencePair
from tests.engine.conftest import ready_set

pytestmark = pytest.mark.django_db


def claim(client, project, stage="rank"):
    response = client.post("/api/tasks/claim/", {"project": project.pk, "stage": stage}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def play(client, task, answers):
    state = task["payload"]["state"]
    for position, answer in enumerate(answers):
        response = client.post(f"/api/tasks/{task['id']}/compare/",
                               {"position": position, "answer": answer, "seconds": 1.5}, format="json")
        assert response.status_code == 200, response.content
        state = response.json()["state"]
    return state


def test_payload_is_blind_and_in_random_order(api, annotator, project, candidate_set):
    task = claim(api(annotator), project)
    payload = task["payload"]
    assert "generator" not in str(payload["candidates"])
    session = RankingSession.objects.get(task_id=task["id"])
    assert [c["id"] for c in payload["candidates"]] == session.order
    assert sorted(session.order) == sorted(candidate_set.candidates.values_list("id", flat=True))
    assert payload["state"]["left"] == session.order[0] and payload["state"]["total"] == 4


def test_fetching_a_claimed_task_writes_nothing_and_shows_the_claims_tournament(api, annotator, project,
                                                                                candidate_set):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = api(annotator)
    task = claim(client, project)  # the claim opened the session
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/api/tasks/{task['id']}/")
    assert response.status_code == 200, response.content
    assert [q["sql"] for q in queries if not q["sql"].lstrip().upper().startswith("SELECT")] == []
    assert response.json()["payload"] == task["payload"]


def test_n8_with_equal_answers_stores_every_comparison(api, annotator, project, obj, glb_meshes):
    project.n_candidates = 8
    project.save()
    ready_set(obj, glb_meshes, 8)
    client = api(annotator)
    task = claim(client, project)
    state = play(client, task, ["left", "equal", "right", "equal", "left", "left", "right"])
    assert state["done"] and state["shown"] == 8
    comparisons = Comparison.objects.filter(session__task_id=task["id"]).order_by("position")
    assert comparisons.count() == 7
    assert [c.answer for c in comparisons] == ["left", "equal", "right", "equal", "left", "left", "right"]
    assert all(c.tie_break == (c.answer == "equal") for c in comparisons)
    assert all(c.kept_id in (c.left_id, c.right_id) for c in comparisons)
    # An Equal keeps the side the task announced for that position (so the page swaps at once).
    keeps = task["payload"]["equal_keeps"]
    assert len(keeps) == 7 and set(keeps) <= {"left", "right"}
    for c in comparisons:
        if c.answer == "equal":
            assert c.kept_id == (c.left_id if keeps[c.position] == "left" else c.right_id)
    assert state["winner"] == comparisons.last().kept_id
    response = client.post(f"/api/tasks/{task['id']}/submit/", {"rating": 0.9}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["winner"] == state["winner"]
    assert PreferencePair.objects.filter(object=obj).count() == 7


def test_n2_single_comparison(api, annotator, project, obj, glb_meshes):
    project.n_candidates = 2
    project.save()
    ready_set(obj, glb_meshes, 2)
    client = api(annotator)
    task = claim(client, project)
    state = play(client, task, ["right"])
    assert state["done"] and state["winner"] == task["payload"]["candidates"][1]["id"]


@pytest.mark.parametrize("rating,routed", [(0.49, Stage.ARTIST), (0.5, Stage.ALIGN), (0.51, Stage.ALIGN)])
def test_routing_at_alpha(api, annotator, project, candidate_set, rating, routed):
    client = api(annotator)
    task = claim(client, project)
    play(client, task, ["left", "left", "left"])
    response = client.post(f"/api/tasks/{task['id']}/submit/",
                           {"rating": rating, "failure_category": "occlusion"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["routed_to"] == routed
    candidate_set.refresh_from_db()
    assert candidate_set.status == (SetStatus.ACCEPTED if routed == Stage.ALIGN else SetStatus.FAILED)
    assert Task.objects.filter(stage=routed, object=candidate_set.object).count() == 1
    if routed == Stage.ARTIST:
        assert ArtistCase.objects.get().failure_category == "occlusion"
        assert not PreferencePair.objects.exists()


def test_routing_uses_the_projects_bar_not_the_iterations_sft_bar(api, annotator, project, candidate_set):
    """α_k (Iteration.alpha) is the training bar of iteration k's export; Stage 2 routes by the project's α."""
    iteration = candidate_set.iteration
    iteration.alpha = 0.9  # a high SFT bar for this iteration's export
    iteration.save(update_fields=["alpha"])
    client = api(annotator)
    task = claim(client, project)
    assert task["payload"]["alpha"] == project.alpha == 0.5
    play(client, task, ["left", "left", "left"])
    response = client.post(f"/api/tasks/{task['id']}/submit/", {"rating": 0.6}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["routed_to"] == Stage.ALIGN


def test_a_failure_goes_nowhere_when_the_project_does_not_route_failures(api, annotator, project, candidate_set):
    from engine.intake.models import ObjectStatus

    project.route_failures = False
    project.save(update_fields=["route_failures"])
    client = api(annotator)
    task = claim(client, project)
    play(client, task, ["left", "left", "left"])
    response = client.post(f"/api/tasks/{task['id']}/submit/", {"rating": 0.2}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["routed_to"] is None
    candidate_set.refresh_from_db()
    candidate_set.object.refresh_from_db()
    assert candidate_set.status == SetStatus.FAILED and candidate_set.object.status == ObjectStatus.FAILED
    assert not Task.objects.filter(stage__in=[Stage.ARTIST, Stage.ALIGN]).exists()


def test_rating_before_the_end_is_refused(api, annotator, project, candidate_set):
    client = api(annotator)
    task = claim(client, project)
    play(client, task, ["left"])
    response = client.post(f"/api/tasks/{task['id']}/submit/", {"rating": 0.9}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "out_of_order"


def test_compare_is_idempotent_per_position_and_refuses_gaps(api, annotator, project, candidate_set):
    client = api(annotator)
    task = claim(client, project)
    url = f"/api/tasks/{task['id']}/compare/"
    first = client.post(url, {"position": 0, "answer": "left"}, format="json").json()
    again = client.post(url, {"position": 0, "answer": "left"}, format="json")
    assert again.status_code == 200 and again.json()["state"] == first["state"]
    assert client.post(url, {"position": 0, "answer": "right"}, format="json").status_code == 409
    assert client.post(url, {"position": 5, "answer": "left"}, format="json").status_code == 409
    assert Comparison.objects.count() == 1


def test_malformed_compare_is_400_with_field(api, annotator, project, candidate_set):
    client = api(annotator)
    task = claim(client, project)
    response = client.post(f"/api/tasks/{task['id']}/compare/", {"position": -1, "answer": "up"}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and {"position", "answer"} <= set(body["fields"])


def test_annotator_never_ranks_same_object_twice_overlap_goes_to_others(api, annotator, annotator2, project, obj,
                                                                        glb_meshes):
    project.ranking_overlap = 2
    project.save()
    ready_set(obj, glb_meshes, 4)
    client = api(annotator)
    task = claim(client, project)
    play(client, task, ["left"] * 3)
    client.post(f"/api/tasks/{task['id']}/submit/", {"level": 3}, format="json")
    assert client.post("/api/tasks/claim/", {"project": project.pk, "stage": "rank"}).status_code == 204
    other = claim(api(annotator2), project)
    assert other["payload"]["object"]["id"] == obj.pk
    counts = Task.objects.filter(stage=Stage.RANK).values("status").annotate(n=Count("id"))
    assert {row["status"]: row["n"] for row in counts} == {TaskStatus.DONE: 1, TaskStatus.LEASED: 1}


def test_a_second_ranking_of_an_object_by_the_same_annotator_is_refused(api, annotator, annotator2, project, obj,
                                                                        glb_meshes):
    from datetime import timedelta

    from django.utils import timezone

    project.ranking_overlap = 2
    project.save()
    ready_set(obj, glb_meshes, 2)
    client = api(annotator)
    first = claim(client, project)
    # The object's other copy leased to the same annotator anyway (say, before the claim kept copies apart),
    # and played in a second tab before the first copy was rated.
    copy = Task.objects.get(object=obj, stage=Stage.RANK, status=TaskStatus.OPEN)
    Task.objects.filter(pk=copy.pk).update(status=TaskStatus.LEASED, lease_owner=annotator,
                                           lease_expires_at=timezone.now() + timedelta(hours=1))
    play(client, client.get(f"/api/tasks/{copy.pk}/").json(), ["right"])
    play(client, first, ["left"])
    assert client.post(f"/api/tasks/{first['id']}/submit/", {"rating": 0.9}, format="json").status_code == 200
    pairs = PreferencePair.objects.count()
    response = client.post(f"/api/tasks/{copy.pk}/submit/", {"rating": 0.2, "failure_category": "occlusion"},
                           format="json")
    assert response.status_code == 409, response.content
    body = response.json()
    assert body["code"] == "already_ranked"
    assert f"task {first['id']}" in body["detail"] and f"/api/tasks/{copy.pk}/release/" in body["detail"]
    # Nothing of the refused rating was written: the copy is still theirs to give back.
    copy.refresh_from_db()
    assert copy.status == TaskStatus.LEASED and copy.completed_by is None
    assert RankingSession.objects.filter(candidate_set__object=obj, rating__isnull=False).count() == 1
    assert PreferencePair.objects.count() == pairs
    assert client.post(f"/api/tasks/{copy.pk}/release/", {}, format="json").status_code == 200
    assert claim(api(annotator2), project)["id"] == copy.pk


def rank_then_lease_a_second_copy(client, annotator, project, obj, glb_meshes):
    """The annotator ranks an object with two overlap copies, then holds its other copy (leased
    before the claim refused a second one, say); return (the first task's payload, the copy)."""
    from datetime import timedelta

    from django.utils import timezone

    project.ranking_overlap = 2
    project.save()
    ready_set(obj, glb_meshes, 3)
    first = claim(client, project)
    play(client, first, ["left", "right"])
    assert client.post(f"/api/tasks/{first['id']}/submit/", {"rating": 0.9}, format="json").status_code == 200
    copy = Task.objects.get(object=obj, stage=Stage.RANK, status=TaskStatus.OPEN)
    Task.objects.filter(pk=copy.pk).update(status=TaskStatus.LEASED, lease_owner=annotator,
                                           lease_expires_at=timezone.now() + timedelta(hours=1))
    return first, copy


def test_comparisons_on_a_second_copy_of_an_object_ranked_by_the_same_annotator_are_refused(
        api, annotator, annotator2, project, obj, glb_meshes):
    client = api(annotator)
    first, copy = rank_then_lease_a_second_copy(client, annotator, project, obj, glb_meshes)
    comparisons = Comparison.objects.count()
    response = client.post(f"/api/tasks/{copy.pk}/compare/", {"position": 0, "answer": "left", "seconds": 1.0},
                           format="json")
    assert response.status_code == 409, response.content
    body = response.json()
    assert body["code"] == "already_ranked"
    assert f"task {first['id']}" in body["detail"] and f"/api/tasks/{copy.pk}/release/" in body["detail"]
    # The same answer as a submit of the copy gets.
    submitted = client.post(f"/api/tasks/{copy.pk}/submit/", {"rating": 0.2}, format="json")
    assert submitted.status_code == 409 and submitted.json() == body
    # Nothing was written: no session was opened on the copy, no comparison stored.
    assert not RankingSession.objects.filter(task=copy).exists()
    assert Comparison.objects.count() == comparisons
    assert client.post(f"/api/tasks/{copy.pk}/release/", {}, format="json").status_code == 200
    assert claim(api(annotator2), project)["id"] == copy.pk


def test_fetching_a_second_copy_of_an_object_ranked_by_the_same_annotator_says_so_and_opens_no_session(
        api, annotator, project, obj, glb_meshes):
    client = api(annotator)
    first, copy = rank_then_lease_a_second_copy(client, annotator, project, obj, glb_meshes)
    sessions = RankingSession.objects.count()
    response = client.get(f"/api/tasks/{copy.pk}/")
    assert response.status_code == 200, response.content
    assert RankingSession.objects.count() == sessions
    payload = response.json()["payload"]
    # Why the copy cannot be played: the answer a comparison or the rating of it gets, and no tournament to play.
    compared = client.post(f"/api/tasks/{copy.pk}/compare/", {"position": 0, "answer": "left"}, format="json")
    assert compared.status_code == 409 and payload["refused"] == compared.json()
    assert payload["refused"]["code"] == "already_ranked" and f"task {first['id']}" in payload["refused"]["detail"]
    assert "candidates" not in payload and "state" not in payload
    # The claim serves the held copy back with the same payload.
    claimed = claim(client, project)
    assert claimed["id"] == copy.pk and claimed["payload"] == payload
    assert RankingSession.objects.count() == sessions


@pytest.mark.django_db(transaction=True)
def test_two_overlapping_ratings_at_the_same_moment_route_the_set_once(api, annotator, annotator2, project, obj,
                                                                        glb_meshes):
    import threading
    import time

    from django.db import connection, transaction

    if connection.vendor != "postgresql":
        pytest.skip("row locks: PostgreSQL")
    project.ranking_overlap = 2
    project.save()
    cset = ready_set(obj, glb_meshes, 2)
    first, second = api(annotator), api(annotator2)
    tasks = [claim(first, project), claim(second, project)]
    play(first, tasks[0], ["left"])
    play(second, tasks[1], ["left"])
    answers = {}

    def rate_second():
        try:
            answers["second"] = second.post(f"/api/tasks/{tasks[1]['id']}/submit/",
                                            {"rating": 0.1, "failure_category": "occlusion"}, format="json")
        finally:
            connection.close()

    # The first rating routes the set and has not committed yet when the second one reads it.
    with transaction.atomic():
        answers["first"] = first.post(f"/api/tasks/{tasks[0]['id']}/submit/", {"rating": 0.9}, format="json")
        other = threading.Thread(target=rate_second)
        other.start()
        time.sleep(0.5)
    other.join(30)
    assert answers["first"].status_code == answers["second"].status_code == 200
    assert answers["first"].json()["routed_to"] == Stage.ALIGN
    assert answers["second"].json()["routed_to"] is None  # it waited for the first, then found the set routed
    cset.refresh_from_db()
    assert cset.status == SetStatus.ACCEPTED
    assert Task.objects.filter(object=obj, stage=Stage.ALIGN).count() == 1
    assert not Task.objects.filter(object=obj, stage=Stage.ARTIST).exists()
    assert RankingSession.objects.filter(candidate_set=cset, rating__isnull=False).count() == 2
