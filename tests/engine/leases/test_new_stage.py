"""A new stage is its own app: registering its StageSpec is all the queue, the API and the pages need.

What a stage app's AppConfig.ready() does, done here by hand for a made-up stage "paint": no
migration (Task.stage takes the registered stages), no table of the queue or the pages edited.
"""

import pytest
from django.db import transaction
from django.test import override_settings

from engine.core.roles import ANNOTATOR
from engine.leases import checks, registry
from engine.leases import services as leases
from engine.leases.models import Task, TaskStatus
from engine.leases.serializers import ClaimSerializer


def paint_payload(task, request):
    return {"brush": "round", "object": task.object_id}


def submit_paint(request, pk, key):
    with transaction.atomic():
        task = leases.hold(pk, request.user)
        body = {"task": pk, "painted": request.data.get("colour", "")}
        leases.complete(task, request.user, key=key, response=body)
    return body


PAINT = registry.StageSpec(name="paint", role=ANNOTATOR, label="Stage 4 · Paint", related=("project",), order=5,
                           payload=paint_payload, submit=submit_paint)

# The stage app's own page template, as it would ship it in its templates/annotation_ui/paint.html.
PAINT_PAGE = "{% extends 'annotation_ui/base.html' %}{% block main %}<canvas id=paint></canvas>{% endblock %}"


def _forget_compiled_stages():
    ClaimSerializer.__dict__.get("_shared") and delattr(ClaimSerializer, "_shared")
    for cached in (leases._claim_statements, leases._claim_sql, leases._fetch):
        cached.cache_clear()


@pytest.fixture
def paint_stage():
    registry.register(PAINT)  # what engine/<app>/apps.py's ready() does
    _forget_compiled_stages()
    yield PAINT
    registry.unregister(PAINT.name)
    _forget_compiled_stages()


@pytest.mark.django_db
def test_a_registered_stage_is_claimed_served_and_submitted_through_the_api(paint_stage, project, annotator, api):
    made = leases.create(project, "paint")
    client = api(annotator)
    claimed = client.post("/api/tasks/claim/", {"project": project.pk, "stage": "paint"}, format="json")
    assert claimed.status_code == 200, claimed.content
    assert claimed.json()["id"] == made.pk and claimed.json()["payload"] == {"brush": "round", "object": None}
    done = client.post(f"/api/tasks/{made.pk}/submit/", {"colour": "red"}, format="json")
    assert done.status_code == 200 and done.json() == {"task": made.pk, "painted": "red"}
    assert Task.objects.get(pk=made.pk).status == TaskStatus.DONE
    assert checks.check_stage_registry(None) == []
    assert "paint" in dict(Task._meta.get_field("stage").choices)


@pytest.mark.django_db
def test_its_page_and_its_place_in_the_navigation_come_from_the_registry(paint_stage, project, annotator, client):
    client.force_login(annotator)
    locmem = ("django.template.loaders.locmem.Loader", {"annotation_ui/paint.html": PAINT_PAGE})
    templates = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "DIRS": [],
                  "OPTIONS": {"loaders": [locmem, "django.template.loaders.app_directories.Loader"],
                              "context_processors": ["django.template.context_processors.request",
                                                     "django.contrib.auth.context_processors.auth"]}}]
    with override_settings(TEMPLATES=templates):
        page = client.get(f"/paint/?project={project.pk}")
    assert page.status_code == 200
    html = page.content.decode()
    assert '<canvas id=paint></canvas>' in html
    assert 'href="/paint/?project=' in html and "Stage 4 · Paint" in html
    assert client.get("/sculpt/").status_code == 404  # no such stage registered
