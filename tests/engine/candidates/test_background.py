"""Candidate generation off the request in the embedded mode: a background thread of the server, and what
a stopped server left generating sent again at the next start."""

import threading
from types import SimpleNamespace

import pytest

from engine.candidates import tasks as candidate_tasks
from engine.candidates.models import SetStatus
from engine.candidates.tasks import start_generation
from engine.core import background
from engine.intake.models import ObjectStatus
from engine.leases.models import Stage, Task, TaskStatus
from tests.engine.simulation.conftest import FAST_GENERATORS, fast_suite, shape_library  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def threaded(settings, fast_suite, project):  # noqa: F811
    """One background thread, as the embedded server runs, over the fast CPU suite."""
    settings.ENGINE = {**settings.ENGINE, "BACKGROUND_THREADS": 1}
    project.generators = FAST_GENERATORS
    project.save()
    yield settings
    assert background.wait(120), "a background job is still running"


def held_start(monkeypatch):
    """Hold the start of generation (engine.candidates.tasks.start) until the returned event is set."""
    gate, real = threading.Event(), candidate_tasks.start
    monkeypatch.setattr(candidate_tasks, "start", lambda object_id: gate.wait(60) and real(object_id))
    return gate


def test_finishing_an_image_answers_before_its_candidates_exist(threaded, api, annotator, obj, monkeypatch):
    gate = held_start(monkeypatch)
    client = api(annotator)
    task = client.post("/api/tasks/claim/", {"project": obj.image.project_id, "stage": "select"}, format="json").json()
    try:
        answer = client.post(f"/api/tasks/{task['id']}/submit/", {"seconds": 3}, format="json")
        assert answer.status_code == 200 and answer.json()["objects"] == [obj.pk]
        obj.refresh_from_db()
        assert obj.status == ObjectStatus.GENERATING and not obj.candidate_sets.exists()
        assert Task.objects.get(pk=task["id"]).status == TaskStatus.DONE
        status = client.get(f"/api/objects/status/?ids={obj.pk}").json()
        assert status == [{"id": obj.pk, "category": "person", "status": "generating",
                           "label": "candidates being generated", "candidates": 0}]
    finally:
        gate.set()
    assert background.wait(120)
    obj.refresh_from_db()
    assert obj.status == ObjectStatus.RANKING
    assert obj.candidate_sets.get().status == SetStatus.READY
    assert Task.objects.filter(object=obj, stage=Stage.RANK, status=TaskStatus.OPEN).exists()
    assert client.get(f"/api/objects/status/?ids={obj.pk}").json()[0]["candidates"] == 4


def test_a_start_sends_again_what_a_stopped_server_left_generating(threaded, obj):
    obj.status = ObjectStatus.GENERATING  # finished in Stage 1; the server stopped before its job ran
    obj.save()
    assert background.start()
    assert background.wait(120)
    obj.refresh_from_db()
    assert obj.status == ObjectStatus.RANKING and obj.candidate_sets.get().candidates.count() == 4


def test_a_failing_job_is_logged_and_the_queue_goes_on(threaded, obj, monkeypatch, caplog):
    calls = []

    def start(object_id):
        calls.append(object_id)
        if len(calls) == 1:
            raise RuntimeError("a generator host is down")
        return SimpleNamespace(pk=None)

    monkeypatch.setattr(candidate_tasks, "start", start)
    assert background.send(start_generation, obj.pk) == "background"
    assert background.send(start_generation, obj.pk) == "background"
    assert background.wait(60)
    assert calls == [obj.pk, obj.pk]
    assert "a generator host is down" in caplog.text


def test_without_background_threads_the_job_runs_in_the_call(settings, obj, monkeypatch):
    settings.ENGINE = {**settings.ENGINE, "BACKGROUND_THREADS": 0}
    ran = []
    monkeypatch.setattr(start_generation, "delay", lambda object_id: ran.append(object_id))
    assert background.send(start_generation, obj.pk) == "done" and ran == [obj.pk]
    assert not background.start()


def test_status_is_for_the_objects_you_selected(api, annotator, annotator2, engineer, obj):
    assert api(annotator2).get(f"/api/objects/status/?ids={obj.pk}").json() == []
    assert [o["id"] for o in api(engineer).get(f"/api/objects/status/?ids={obj.pk}").json()] == [obj.pk]
    bad = api(annotator).get("/api/objects/status/?ids=1,x")
    assert bad.status_code == 400 and "ids" in bad.json()["fields"]
