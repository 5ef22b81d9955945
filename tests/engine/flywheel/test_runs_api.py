"""Starting a flywheel run: bad input is refused with the field named; a good request is 202 and queued."""

import pytest
from django.core.management import CommandError, call_command

from engine.flywheel import iteration
from engine.flywheel.models import FlywheelRun, ModelCheckpoint
from engine.flywheel.deploy import promote

pytestmark = pytest.mark.django_db


@pytest.fixture
def deployed(tmp_path):
    return promote(ModelCheckpoint.objects.create(name="base", path=str(tmp_path), stage="pretrain",
                                                  config={"config": "tiny"}))


@pytest.fixture
def queued(monkeypatch):
    """Record what would be queued instead of running it."""
    runs = []
    monkeypatch.setattr(iteration, "enqueue", lambda run, background=True: runs.append(run.pk))
    return runs


def test_unknown_project_and_alpha_outside_0_1_are_command_errors(project, deployed):
    with pytest.raises(CommandError, match="No project named 'nope'"):
        call_command("flywheel", "run", "--project", "nope")
    with pytest.raises(CommandError, match="between 0 and 1, got 1.5"):
        call_command("flywheel", "run", "--project", project.name, "--alpha", "1.5")
    with pytest.raises(CommandError, match="No flywheel run 99"):
        call_command("flywheel", "resume", "--run", "99")
    assert not FlywheelRun.objects.exists()


def test_nothing_deployed_says_to_pass_a_base(project):
    with pytest.raises(CommandError, match="--base"):
        call_command("flywheel", "run", "--project", project.name)
    with pytest.raises(CommandError, match="is not a checkpoint"):
        call_command("flywheel", "run", "--project", project.name, "--base", "/nonexistent/run")


def test_the_api_refuses_bad_options_with_the_field(api, engineer, annotator, project, deployed, queued):
    url = f"/api/projects/{project.pk}/flywheel/"
    response = api(engineer).post(url, {"alpha": 1.5}, format="json")
    assert response.status_code == 400 and "alpha" in response.json()["fields"]
    response = api(engineer).post(url, {"config": "huge"}, format="json")
    assert response.status_code == 400 and "config" in response.json()["fields"]
    response = api(engineer).post(url, {"simulate": 2, "artist_delay": -1}, format="json")
    assert response.status_code == 400 and "artist_delay" in response.json()["fields"]
    response = api(engineer).post(url, {"category_loss": -1}, format="json")
    assert response.status_code == 400 and "category_loss" in response.json()["fields"]
    response = api(engineer).post(url, {"dpo_dpop": -1}, format="json")
    assert response.status_code == 400 and "dpo_dpop" in response.json()["fields"]
    response = api(engineer).post(url, {"category_loss": 0.5}, format="json")   # `deployed` is no checkpoint
    assert response.status_code == 400 and "cannot read" in response.json()["fields"]["category_loss"][0]
    response = api(engineer).post(url, {"replay": ["/nonexistent/mid"]}, format="json")
    assert response.status_code == 400 and "not a trainer cache" in response.json()["fields"]["replay"][0]
    response = api(engineer).post(url, {"replay": ["x" * 3000]}, format="json")   # longer than a file name may be
    assert response.status_code == 400 and "replay" in response.json()["fields"]
    response = api(engineer).post(url, {"replay": "/one/path"}, format="json")   # a list, not a string
    assert response.status_code == 400 and "replay" in response.json()["fields"]
    assert api(engineer).post("/api/projects/999/flywheel/", {}, format="json").status_code == 404
    assert api(annotator).post(url, {}, format="json").status_code == 403
    assert not queued


def test_the_api_queues_a_run_and_reports_it(api, engineer, project, deployed, queued):
    response = api(engineer).post(f"/api/projects/{project.pk}/flywheel/",
                                  {"alpha": 0.6, "sft_steps": 3, "simulate": 2, "artist_delay": 20}, format="json")
    assert response.status_code == 202, response.json()
    body = response.json()
    assert queued == [body["id"]] and body["status"] == "queued" and body["alpha"] == 0.6
    assert body["options"]["sft_steps"] == 3 and body["iteration"] == 1
    assert body["options"]["simulate"] == 2 and body["options"]["artist_delay"] == 20.0
    assert body["options"]["dpo_dpop"] == 50.0  # DPO-Positive by default (engine/flywheel/steps.py: DPO_DPOP)
    assert project.current_iteration().alpha == 0.6                     # α_k of iteration k
    # One run at a time per project.
    again = api(engineer).post(f"/api/projects/{project.pk}/flywheel/", {}, format="json")
    assert again.status_code == 409 and "project" in again.json()["fields"]
    live = api(engineer).get(f"/api/flywheel/runs/{body['id']}/").json()
    assert live["step"] == "collect" and live["project"] == project.name
    assert [r["id"] for r in api(engineer).get(f"/api/projects/{project.pk}/flywheel/").json()] == [body["id"]]


def test_the_api_passes_replay_to_the_run(api, engineer, project, deployed, queued, tmp_path):
    mid = tmp_path / "mid"
    mid.mkdir()
    (mid / "index.json").write_text("{}")
    url = f"/api/projects/{project.pk}/flywheel/"
    response = api(engineer).post(url, {"replay": [str(mid)], "replay_share": 1.0}, format="json")
    assert response.status_code == 400 and "between 0 and 1" in response.json()["fields"]["replay_share"][0]
    assert not queued
    response = api(engineer).post(url, {"replay": [str(mid)], "replay_share": 0.25, "dpo_dpop": 0}, format="json")
    assert response.status_code == 202, response.json()
    assert response.json()["options"]["dpo_dpop"] == 0.0   # plain DPO, asked for
    assert response.json()["options"]["replay"] == [str(mid)] and response.json()["options"]["replay_share"] == 0.25
    assert queued == [response.json()["id"]]


def test_alpha_schedule_sets_each_new_iterations_bar(project):
    from django.core.exceptions import ValidationError

    from engine.core.models import check_alpha_schedule

    project.alpha_schedule = [0.3, 0.5]
    assert [project.alpha_for(k) for k in (1, 2, 3)] == [0.3, 0.5, 0.5]
    for bad in ([0.5, 0.3], [1.2], ["a"]):
        with pytest.raises(ValidationError):
            check_alpha_schedule(bad)


def test_engineers_set_the_flywheel_settings_through_the_project_api(api, engineer, project):
    url = f"/api/projects/{project.pk}/"
    bad = api(engineer).patch(url, {"alpha_schedule": [0.6, 0.4]}, format="json")
    assert bad.status_code == 400 and "rises" in bad.json()["fields"]["alpha_schedule"][0]
    assert api(engineer).patch(url, {"tail_share": 1.5}, format="json").json()["fields"].keys() == {"tail_share"}
    ok = api(engineer).patch(url, {"alpha_schedule": [0.4, 0.6], "checkpoints_deployed": 3, "collection_target": 40},
                             format="json")
    assert ok.status_code == 200, ok.json()
    project.refresh_from_db()
    assert (project.alpha_schedule, project.checkpoints_deployed, project.collection_target) == ([0.4, 0.6], 3, 40)
