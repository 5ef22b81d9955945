"""Gold copies: made from a completed task, mixed in at the project's rate, scored and never routed."""

import pytest

from engine.alignment.models import Alignment
from engine.leases.models import Stage, Task
from engine.quality.models import GoldCopy, GoldStandard
from engine.records.models import TrainingSample
from tests.engine.conftest import make_user, ready_set
from tests.engine.quality.helpers import claim, new_object, pose_body, rank, simulate

pytestmark = pytest.mark.django_db


@pytest.fixture
def gold_ranking(api, annotator, engineer, project, candidate_set):
    """The first object's ranking, rated 0.9 and routed, then marked as gold by the engineer; the project serves gold at 0.5."""
    task = claim(api(annotator), project)
    winner, _ = rank(api(annotator), task, 0.9)
    response = api(engineer).post(f"/api/tasks/{task['id']}/gold/")
    assert response.status_code == 201, response.content
    assert response.json()["answer"] == {"winners": [winner], "accept": True}
    assert api(engineer).post(f"/api/tasks/{task['id']}/gold/").json()["id"] == response.json()["id"]  # idempotent
    project.gold_rate = 0.5
    project.save()
    return GoldStandard.objects.get(pk=response.json()["id"])


def test_a_gold_copy_is_served_with_new_work_scored_and_never_routed(api, annotator, annotator2, project, image,
                                                                      glb_meshes, gold_ranking):
    other = new_object(image, annotator, box=(20, 300, 200, 500), description="a flag")
    ready_set(other, glb_meshes, 4)
    copy = GoldCopy.objects.get()
    assert copy.task.object_id == gold_ranking.object_id and copy.task.candidate_set_id == gold_ranking.candidate_set_id
    aligns_before = Task.objects.filter(stage=Stage.ALIGN).count()
    client = api(annotator2)
    first = claim(client, project)  # the new object's own task comes first (opened first)
    assert first["payload"]["object"]["id"] == other.pk
    rank(client, first, 0.9)
    served = claim(client, project)
    assert served["id"] == copy.task_id
    assert "gold" not in str(served["payload"])  # a gold copy looks like any other task
    winner = gold_ranking.answer["winners"][0]
    _, body = rank(client, served, 0.8, pick=winner)
    assert body["routed_to"] is None
    copy.refresh_from_db()
    assert copy.passed is True and copy.answered_by == annotator2 and copy.result["winner_ok"]
    assert Task.objects.filter(stage=Stage.ALIGN).count() == aligns_before + 1  # the new object's, not the gold's
    # The annotator who gave the gold answer is never served its copies (one ranking per object and person).
    assert api(annotator).post("/api/tasks/claim/", {"project": project.pk, "stage": "rank"},
                               format="json").status_code == 204


def test_a_wrong_gold_answer_fails_and_the_figures_count_people_only(api, annotator, annotator2, engineer, project,
                                                                    image, glb_meshes, gold_ranking):
    robot = simulate(make_user("sim-1", "annotator"))
    for i, who in enumerate((annotator2, robot)):
        ready_set(new_object(image, annotator, box=(20 + 40 * i, 300, 200, 500), description="a flag"), glb_meshes, 4)
        client = api(who)
        rank(client, claim(client, project), 0.9)
        served = claim(client, project)
        assert GoldCopy.objects.filter(task_id=served["id"]).exists()
        wrong = next(c["id"] for c in served["payload"]["candidates"] if c["id"] != gold_ranking.answer["winners"][0])
        rank(client, served, 0.9, pick=wrong)
    assert list(GoldCopy.objects.order_by("id").values_list("passed", flat=True)) == [False, False]
    report = api(engineer).get(f"/api/projects/{project.pk}/quality/").json()
    people = {r["user"]: r for r in report["annotators"]}
    assert "sim-1" not in people
    assert people["ann2"]["gold_answered"] == 1 and people["ann2"]["gold_accuracy"] == 0.0
    assert people["ann2"]["gold"]["rank"] == {"answered": 1, "passed": 0, "accuracy": 0.0}
    assert report["gold_answered_by_people"] == 1 and report["gold_copies_served"] == 2
    assert api(annotator).get(f"/api/projects/{project.pk}/quality/").status_code == 403


def test_a_gold_pose_is_scored_and_makes_no_sample(api, annotator, annotator2, engineer, project, image, glb_meshes,
                                                   candidate_set):
    client = api(annotator)
    rank(client, claim(client, project), 0.9)
    aligned = claim(api(annotator2), project, "align")
    gold_pose = pose_body(t=(0.2, -0.1, 2.5), s=0.8)
    assert api(annotator2).post(f"/api/tasks/{aligned['id']}/submit/", gold_pose, format="json").status_code == 200
    gold = api(engineer).post(f"/api/tasks/{aligned['id']}/gold/").json()
    assert gold["stage"] == "align" and gold["answer"]["translation"] == [0.2, -0.1, 2.5]
    project.gold_rate = 0.5
    project.save()
    samples = TrainingSample.objects.count()
    for i, (pose, passed) in enumerate(((pose_body(t=(0.21, -0.1, 2.45), s=0.82), True),
                                        (pose_body(t=(0.2, -0.1, 3.5), s=0.8), False))):
        other = new_object(image, annotator, box=(20 + 40 * i, 300, 200, 500), description="a flag")
        ready_set(other, glb_meshes, 4)
        rank(api(annotator), claim(api(annotator), project), 0.9)  # routes `other` to Stage 3, with a gold copy
        copy = GoldCopy.objects.get(task__stage=Stage.ALIGN, passed__isnull=True)
        assert Alignment.objects.get(task=copy.task).candidate_id == Alignment.objects.get(task_id=aligned["id"]).candidate_id
        client = api(annotator)
        for _ in range(2):
            task = claim(client, project, "align")
            response = client.post(f"/api/tasks/{task['id']}/submit/", pose if task["id"] == copy.task_id
                                   else pose_body(), format="json")
            assert response.status_code == 200, response.content
        copy.refresh_from_db()
        assert copy.passed is passed, copy.result
        assert response.json()["sample"] is None or task["id"] != copy.task_id
    assert TrainingSample.objects.count() == samples + 2  # the two new objects', none for the gold copies


def test_gold_can_be_switched_off_and_only_completed_tasks_become_gold(api, annotator, engineer, project,
                                                                      candidate_set, gold_ranking):
    response = api(engineer).patch(f"/api/gold/{gold_ranking.pk}/", {"active": False}, format="json")
    assert response.status_code == 200 and response.json()["active"] is False
    assert api(engineer).get(f"/api/projects/{project.pk}/gold/").json()["gold"][0]["active"] is False
    open_task = Task.objects.create(project=project, stage=Stage.RANK, image=candidate_set.object.image,
                                    object=candidate_set.object, candidate_set=candidate_set)
    response = api(engineer).post(f"/api/tasks/{open_task.pk}/gold/")
    assert response.status_code == 400 and "completed" in response.json()["detail"]
