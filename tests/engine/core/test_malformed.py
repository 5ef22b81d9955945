"""Malformed payloads get 400 with field errors on every write endpoint, never a 500."""

import json

import pytest

from engine.leases import services as leases
from engine.leases.models import Stage

pytestmark = pytest.mark.django_db

BODIES = [[], "text", 7, None, {"position": "x", "answer": [], "rating": "high", "rotation": "up",
                                  "translation": {"a": 1}, "scale": [], "mask": 5, "category": {}, "points": "no",
                                  "project": "one", "stage": 3, "mesh": "m", "seconds": "long", "name": ["../x"]}]


@pytest.fixture
def held_tasks(project, annotator, artist, candidate_set, obj):
    held = {}
    held["rank"] = leases.claim(annotator, project.pk, Stage.RANK)
    for stage in (Stage.SELECT, Stage.ALIGN):
        leases.create(project, stage, image=obj.image, object=obj, candidate_set=candidate_set)
        held[stage] = leases.claim(annotator if stage != Stage.ARTIST else artist, project.pk, stage)
    return held


def test_no_write_endpoint_answers_500(api, engineer, annotator, project, held_tasks, obj):
    it = project.current_iteration()
    targets = [
        (annotator, "/api/tasks/claim/"),
        (annotator, f"/api/images/{obj.image_id}/segment/"),
        (annotator, f"/api/tasks/{held_tasks['rank'].pk}/compare/"),
        (annotator, f"/api/tasks/{held_tasks['rank'].pk}/submit/"),
        (annotator, f"/api/tasks/{held_tasks[Stage.SELECT].pk}/objects/"),
        (annotator, f"/api/tasks/{held_tasks[Stage.SELECT].pk}/submit/"),
        (annotator, f"/api/tasks/{held_tasks[Stage.ALIGN].pk}/submit/"),
        (engineer, "/api/projects/"),
        (engineer, f"/api/projects/{project.pk}/"),
        (engineer, "/api/iterations/"),
        (engineer, f"/api/iterations/{it.pk}/export/"),
        (engineer, "/api/checkpoints/"),
    ]
    for user, url in targets:
        client = api(user)
        for body in BODIES:
            method = client.patch if url.endswith(f"/projects/{project.pk}/") else client.post
            response = method(url, json.dumps(body), content_type="application/json")
            assert response.status_code < 500, (url, body, response.content[:300])
            if response.status_code == 400:
                assert response.json()["code"] in ("invalid", "upload_rejected"), (url, response.content[:300])
