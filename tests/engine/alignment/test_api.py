"""Stage 3 over HTTP, and the whole path of an object to a training sample and its export."""

import json

import numpy as np
import pytest
from django.core.management import call_command

from engine.intake.models import ObjectStatus
from engine.leases import services as leases
from engine.leases.models import Stage
from engine.ranking.services import compare, rate, session_for
from engine.records.models import TrainingSample

pytestmark = pytest.mark.django_db


@pytest.fixture
def accepted(project, annotator, candidate_set):
    task = leases.claim(annotator, project.pk, Stage.RANK)
    session_for(task, annotator)  # opens the session (random order)
    answers = ["left", "equal", "right"]
    for position, answer in enumerate(answers):
        compare(task.pk, annotator, position, answer)
    return rate(task.pk, annotator, 0.8)


def claim(client, project):
    response = client.post("/api/tasks/claim/", {"project": project.pk, "stage": "align"}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def test_alignment_creates_sample_and_export_has_it(api, annotator, annotator2, project, accepted, obj, tmp_path):
    client = api(annotator2)
    task = claim(client, project)
    payload = task["payload"]
    assert payload["mesh_url"].endswith(".glb") and payload["intrinsics"]["width"] == obj.image.width
    c, s = np.cos(0.3), np.sin(0.3)
    body = {"rotation": {"matrix": [[c, -s, 0], [s, c, 0], [0, 0, 1]]}, "translation": [0.1, -0.2, 2.5],
            "scale": 0.8, "seconds": 42.0}
    headers = {"HTTP_IDEMPOTENCY_KEY": "submit-1"}
    first = client.post(f"/api/tasks/{task['id']}/submit/", body, format="json", **headers)
    assert first.status_code == 200, first.content
    again = client.post(f"/api/tasks/{task['id']}/submit/", body, format="json", **headers)
    assert again.status_code == 200 and again.json() == first.json()
    other_key = client.post(f"/api/tasks/{task['id']}/submit/", body, format="json", HTTP_IDEMPOTENCY_KEY="submit-2")
    assert other_key.status_code == 409 and other_key.json()["code"] == "task_closed"
    sample = TrainingSample.objects.get()
    assert np.allclose(sample.rotation, [np.cos(0.15), 0, 0, np.sin(0.15)])
    assert sample.rating == 0.8 and sample.scale == 0.8
    obj.refresh_from_db()
    assert obj.status == ObjectStatus.DONE

    out = tmp_path / "export"
    call_command("export_iteration", "--iteration", "1", "--out", str(out), verbosity=0)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"] == {"samples": 1, "pairs": 3, "negatives": 0} and manifest["alpha"] == 0.5
    row = json.loads((out / "samples.jsonl").read_text())
    assert (out / row["image"]["path"]).is_file() and (out / row["mesh"]["path"]).is_file()
    assert (out / row["mask"]["path"]).read_bytes()[:4] == b"\x89PNG"
    assert np.allclose(row["pose"]["rotation_matrix"], body["rotation"]["matrix"], atol=1e-9)
    pairs = [json.loads(line) for line in (out / "pairs.jsonl").read_text().splitlines()]
    assert {p["rejected_is_model"] for p in pairs} <= {True, False}
    assert all(p["dpo_eligible"] == (p["rejected"]["mesh"]["source"] in ("model", "external")) for p in pairs)
    assert all(p["chosen"]["mesh"]["path"] == row["mesh"]["path"] for p in pairs)


def test_bad_pose_is_400_with_field_and_nothing_written(api, annotator2, project, accepted):
    client = api(annotator2)
    task = claim(client, project)
    response = client.post(f"/api/tasks/{task['id']}/submit/",
                           {"rotation": {"quaternion": [0.5, 0, 0, 0]}, "translation": [0, 0, 1], "scale": 1},
                           format="json")
    assert response.status_code == 400 and "rotation.quaternion" in response.json()["fields"]
    response = client.post(f"/api/tasks/{task['id']}/submit/", {"translation": [0, 0]}, format="json")
    assert response.status_code == 400 and {"rotation", "translation", "scale"} <= set(response.json()["fields"])
    assert TrainingSample.objects.count() == 0


def test_export_refuses_a_non_empty_folder_and_unknown_iteration(tmp_path, accepted):
    from django.core.management.base import CommandError

    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    with pytest.raises(CommandError, match="not empty"):
        call_command("export_iteration", "--iteration", "1", "--out", str(tmp_path / "x"), verbosity=0)
    with pytest.raises(CommandError, match="No iteration 9"):
        call_command("export_iteration", "--iteration", "9", "--out", str(tmp_path / "y"), verbosity=0)
    assert not (tmp_path / "y").exists()


@pytest.mark.django_db(transaction=True)
def test_a_repeat_sent_while_the_first_submit_is_applied_gets_the_first_answer(api, annotator2, project, accepted):
    import threading
    import time

    from django.db import connection, transaction

    if connection.vendor != "postgresql":
        pytest.skip("row locks: PostgreSQL")
    client = api(annotator2)
    task = claim(client, project)
    body = {"rotation": {"quaternion": [1, 0, 0, 0]}, "translation": [0, 0, 2], "scale": 1.0, "seconds": 3}
    url, answers = f"/api/tasks/{task['id']}/submit/", {}

    def repeat(key):
        try:
            answers[key] = api(annotator2).post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=key)
        finally:
            connection.close()

    # The first submit holds the task's lock, not yet committed, while two repeats arrive: one with its
    # key (a client retrying on a timeout), one with another key (a second submit).
    with transaction.atomic():
        answers["first"] = client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="k1")
        repeats = [threading.Thread(target=repeat, args=(key,)) for key in ("k1", "k2")]
        for thread in repeats:
            thread.start()
        time.sleep(0.5)
    for thread in repeats:
        thread.join(30)
    assert answers["first"].status_code == 200, answers["first"].content
    assert answers["k1"].status_code == 200 and answers["k1"].json() == answers["first"].json()
    assert answers["k2"].status_code == 409 and answers["k2"].json()["code"] == "task_closed"
    assert TrainingSample.objects.count() == 1
