"""Submits faster than a person can work are held for an engineer's review, not silently accepted."""

import pytest

from engine.alignment.models import Alignment
from engine.candidates.models import SetStatus
from engine.flywheel.export import Files, sample_rows
from engine.leases.models import Stage, Task, TaskStatus
from engine.quality.models import FlagStatus, ReviewFlag
from engine.records.models import TrainingSample
from tests.engine.quality.helpers import claim, pose_body, rank, simulate

pytestmark = pytest.mark.django_db


@pytest.fixture
def watched(project):
    project.review_min_compare_seconds = 0.3
    project.review_min_align_seconds = 2.0
    project.save()
    return project


def test_a_ranking_answered_faster_than_the_swap_is_held_and_another_annotator_gets_the_set(
        api, annotator, engineer, watched, candidate_set):
    task = claim(api(annotator), watched)
    _, body = rank(api(annotator), task, 0.9)  # a test client answers within milliseconds
    assert body["routed_to"] is None and body["review"]["flagged"] and "too_fast" in body["review"]["reasons"]
    candidate_set.refresh_from_db()
    assert candidate_set.status == SetStatus.READY  # not routed
    fresh = Task.objects.get(pk=body["task_created"])
    assert fresh.stage == Stage.RANK and fresh.status == TaskStatus.OPEN and fresh.candidate_set == candidate_set
    listed = api(engineer).get(f"/api/projects/{watched.pk}/review/").json()["flags"]
    assert [f["task"] for f in listed] == [task["id"]]
    assert listed[0]["user"] == "ann" and listed[0]["detail"]["too_fast"] >= 2 and listed[0]["submitted"]["rating"] == 0.9
    decided = api(engineer).post(f"/api/review/{listed[0]['id']}/", {"decision": "accept"}, format="json")
    assert decided.status_code == 200, decided.content
    assert decided.json()["status"] == "accepted" and decided.json()["outcome"]["routed_to"] == "align"
    candidate_set.refresh_from_db()
    assert candidate_set.status == SetStatus.ACCEPTED
    again = api(engineer).post(f"/api/review/{listed[0]['id']}/", {"decision": "reject"}, format="json")
    assert again.status_code == 409


def test_a_rejected_ranking_never_routes_and_the_fresh_copy_does(api, annotator, annotator2, engineer, watched,
                                                                  candidate_set):
    _, body = rank(api(annotator), claim(api(annotator), watched), 0.9)
    flag = ReviewFlag.objects.get()
    decided = api(engineer).post(f"/api/review/{flag.pk}/", {"decision": "reject", "note": "a bot"}, format="json")
    assert decided.json()["status"] == "rejected" and decided.json()["note"] == "a bot"
    candidate_set.refresh_from_db()
    assert candidate_set.status == SetStatus.READY
    watched.review_min_compare_seconds = 0  # the second annotator is a test client too
    watched.save()
    task = claim(api(annotator2), watched)
    assert task["id"] == body["task_created"]
    _, second = rank(api(annotator2), task, 0.9)
    assert second["routed_to"] == "align"
    assert api(engineer).post("/api/review/999999/", {"decision": "accept"}, format="json").status_code == 404
    assert api(engineer).post(f"/api/review/{flag.pk}/", {"decision": "maybe"}, format="json").status_code == 400


@pytest.fixture
def to_align(api, annotator, watched, candidate_set):
    watched.review_min_compare_seconds = 0
    watched.save()
    rank(api(annotator), claim(api(annotator), watched), 0.9)
    return Task.objects.get(stage=Stage.ALIGN)


def test_an_unchanged_pose_submitted_at_once_is_flagged_and_kept_out_of_exports_until_accepted(
        api, annotator2, engineer, watched, to_align, tmp_path):
    task = claim(api(annotator2), watched, "align")
    served = task["payload"]["initial_pose"]
    body = {"rotation": served["rotation"], "translation": served["translation"], "scale": served["scale"]}
    response = api(annotator2).post(f"/api/tasks/{task['id']}/submit/", body, format="json")
    assert response.status_code == 200, response.content
    review = response.json()["review"]
    assert review["flagged"] and set(review["reasons"]) == {"too_fast", "unchanged_pose"}
    sample = TrainingSample.objects.get(pk=response.json()["sample"])
    iteration = sample.iteration
    assert [r["id"] for r in sample_rows(iteration, Files(tmp_path))] == []
    flag = ReviewFlag.objects.get(task_id=task["id"])
    assert api(engineer).post(f"/api/review/{flag.pk}/", {"decision": "accept"}, format="json").status_code == 200
    assert [r["id"] for r in sample_rows(iteration, Files(tmp_path))] == [f"sample-{sample.pk}"]


def test_a_rejected_pose_loses_its_sample_and_the_object_is_aligned_again(api, annotator2, engineer, watched,
                                                                          to_align):
    task = claim(api(annotator2), watched, "align")
    response = api(annotator2).post(f"/api/tasks/{task['id']}/submit/", pose_body(), format="json")
    assert response.json()["review"]["reasons"] == ["too_fast"]  # moved, but within 2 s of the claim
    flag = ReviewFlag.objects.get()
    outcome = api(engineer).post(f"/api/review/{flag.pk}/", {"decision": "reject"}, format="json").json()["outcome"]
    assert outcome["sample_deleted"] == response.json()["sample"] and not TrainingSample.objects.exists()
    again = Task.objects.get(pk=outcome["task_created"])
    assert again.stage == Stage.ALIGN and again.status == TaskStatus.OPEN
    assert Alignment.objects.get(task=again).candidate_id == Alignment.objects.get(task_id=task["id"]).candidate_id


def test_simulated_annotators_are_not_flagged(api, annotator, annotator2, watched, candidate_set):
    simulate(annotator)
    simulate(annotator2)
    _, body = rank(api(annotator), claim(api(annotator), watched), 0.9)
    assert body["routed_to"] == "align"
    task = claim(api(annotator2), watched, "align")
    response = api(annotator2).post(f"/api/tasks/{task['id']}/submit/", pose_body(), format="json")
    assert "review" not in response.json()
    assert not ReviewFlag.objects.exists() and FlagStatus.OPEN == "open"
