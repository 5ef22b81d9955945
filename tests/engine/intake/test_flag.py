"""Stage 1: an annotator flags an image that cannot be annotated."""

import pytest

from engine.intake.models import Image, ObjectInstance, ObjectStatus
from engine.leases.models import Stage, Task, TaskStatus
from tests.engine.conftest import box_mask

pytestmark = pytest.mark.django_db


@pytest.fixture
def select_task(image):
    return Task.objects.get(image=image, stage=Stage.SELECT)


def claim(client, project):
    response = client.post("/api/tasks/claim/", {"project": project.pk, "stage": "select"}, format="json")
    assert response.status_code == 200, response.content
    return response.json()["id"]


def test_flagging_closes_the_task_marks_the_image_and_drops_unsent_objects(api, annotator, project, image,
                                                                          select_task):
    client = api(annotator)
    task_id = claim(client, project)
    from engine.intake import masks

    added = client.post(f"/api/tasks/{task_id}/objects/", {"mask": masks.encode(box_mask(image)), "category": "person"},
                        format="json")
    assert added.status_code == 201, added.content
    response = client.post(f"/api/tasks/{task_id}/flag/", {"reason": "duplicate", "note": "same as image 3"},
                           format="json", HTTP_IDEMPOTENCY_KEY="f1")
    assert response.status_code == 200, response.content
    assert response.json() == {"task": task_id, "image": image.pk, "flagged": "duplicate", "objects_dropped": 1,
                               "proposals_rejected": 0}
    image.refresh_from_db()
    assert not image.quality_ok and image.quality_reason == "flagged by ann: a duplicate of another image (same as image 3)"
    assert Task.objects.get(pk=task_id).status == TaskStatus.DONE
    assert not ObjectInstance.objects.filter(image=image).exists()
    again = client.post(f"/api/tasks/{task_id}/flag/", {"reason": "duplicate", "note": "same as image 3"},
                        format="json", HTTP_IDEMPOTENCY_KEY="f1")
    assert again.status_code == 200 and again.json() == response.json()  # a retried click is harmless


def test_flag_refuses_bad_reasons_and_foreign_tasks(api, annotator, annotator2, artist, project, image, select_task):
    client = api(annotator)
    task_id = claim(client, project)
    bad = client.post(f"/api/tasks/{task_id}/flag/", {"reason": "ugly"}, format="json")
    assert bad.status_code == 400 and "reason" in bad.json()["fields"]
    other = client.post(f"/api/tasks/{task_id}/flag/", {"reason": "other"}, format="json")
    assert other.status_code == 400 and "note" in other.json()["fields"]
    foreign = api(annotator2).post(f"/api/tasks/{task_id}/flag/", {"reason": "blurry"}, format="json")
    assert foreign.status_code == 403 and foreign.json()["code"] == "lease_not_held"
    assert api(artist).post(f"/api/tasks/{task_id}/flag/", {"reason": "blurry"}, format="json").status_code == 403
    assert Image.objects.get(pk=image.pk).quality_ok  # nothing written by any of these
    assert Task.objects.get(pk=task_id).status == TaskStatus.LEASED


def test_objects_already_sent_on_are_kept(api, annotator, project, image, select_task, obj):
    ObjectInstance.objects.filter(pk=obj.pk).update(status=ObjectStatus.RANKING)
    client = api(annotator)
    task_id = claim(client, project)
    response = client.post(f"/api/tasks/{task_id}/flag/", {"reason": "blurry"}, format="json")
    assert response.status_code == 200 and response.json()["objects_dropped"] == 0
    assert ObjectInstance.objects.filter(pk=obj.pk).exists()
