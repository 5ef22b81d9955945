"""The checkpoint API checks its input: what is not a JSON object is a 400 that names the field, never a 500."""

import pytest
from django.test import Client

from engine.flywheel.models import ModelCheckpoint

pytestmark = pytest.mark.django_db


@pytest.fixture
def checkpoint_dir(tmp_path):
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "manifest.json").write_text("{}")
    return str(tmp_path / "ckpt")


def browser_for(user):
    client = Client()
    client.force_login(user)
    return client


def form(path, **fields):
    """What the browsable API's HTML form sends for a new checkpoint, its JSON boxes as the person left them."""
    return {"name": "sft-1", "path": path, "stage": "sft", "parent": "", "sha256": "", "iteration": "", **fields}


@pytest.mark.parametrize("config, why", [("null", "not null"), ("", "not an empty value"), ("[1, 2]", "not an array"),
                                         ("3", "not a number"), ("{", "valid JSON")])
def test_a_config_that_is_not_an_object_is_a_400_naming_it(engineer, checkpoint_dir, config, why):
    answer = browser_for(engineer).post("/api/checkpoints/", form(checkpoint_dir, config=config, metrics="{}"),
                                        HTTP_ACCEPT="application/json")
    assert answer.status_code == 400, answer.content
    body = answer.json()
    assert body["code"] == "invalid" and list(body["fields"]) == ["config"]
    assert why in body["fields"]["config"][0]
    assert not ModelCheckpoint.objects.exists()


def test_blank_metrics_in_json_are_a_400_too(api, engineer, checkpoint_dir):
    answer = api(engineer).post("/api/checkpoints/", {"name": "a", "path": checkpoint_dir, "stage": "sft",
                                                      "metrics": None}, format="json")
    assert answer.status_code == 400 and "metrics" in answer.json()["fields"]


def test_the_browsable_form_starts_at_an_empty_object_and_is_accepted_as_it_stands(engineer, checkpoint_dir):
    client = browser_for(engineer)
    page = client.get("/api/checkpoints/", HTTP_ACCEPT="text/html").content.decode()
    assert 'name="config"' in page and ">null<" not in page.replace(" ", "").replace("\n", "")
    answer = client.post("/api/checkpoints/", form(checkpoint_dir, config="{}", metrics='{"viou": 0.3}'),
                         HTTP_ACCEPT="application/json")
    assert answer.status_code == 201, answer.content
    checkpoint = ModelCheckpoint.objects.get()
    assert checkpoint.config == {} and checkpoint.metrics == {"viou": 0.3}


def test_config_and_metrics_may_be_left_out(api, engineer, checkpoint_dir):
    answer = api(engineer).post("/api/checkpoints/", {"name": "a", "path": checkpoint_dir, "stage": "sft"}, format="json")
    assert answer.status_code == 201 and answer.json()["config"] == {} and answer.json()["metrics"] == {}


def test_a_checkpoint_belongs_to_its_iterations_project_and_no_other(api, engineer, project, checkpoint_dir):
    from engine.core.models import Project

    other = Project.objects.create(name="other", created_by=engineer)
    it = project.current_iteration().pk
    client = api(engineer)
    wrong = client.post("/api/checkpoints/", {"name": "a", "path": checkpoint_dir, "stage": "sft", "iteration": it,
                                              "project": other.pk}, format="json")
    assert wrong.status_code == 400 and list(wrong.json()["fields"]) == ["project"], wrong.content
    made = client.post("/api/checkpoints/", {"name": "a", "path": checkpoint_dir, "stage": "sft", "iteration": it},
                       format="json")
    assert made.status_code == 201 and made.json()["project"] == project.pk
    shared = client.post("/api/checkpoints/", {"name": "b", "path": checkpoint_dir, "stage": "sft"}, format="json")
    assert shared.status_code == 201 and shared.json()["project"] is None
    # Promoting the other project's checkpoint leaves this project's deployment alone.
    mine, theirs = made.json()["id"], client.post("/api/checkpoints/", {
        "name": "c", "path": checkpoint_dir, "stage": "sft", "project": other.pk}, format="json").json()["id"]
    assert client.post(f"/api/checkpoints/{mine}/promote/").status_code == 200
    other.checkpoints_deployed = 1
    other.save()
    for pk in (theirs, shared.json()["id"]):
        assert client.post(f"/api/checkpoints/{pk}/promote/").status_code == 200
    assert ModelCheckpoint.objects.get(pk=mine).status == "promoted"
