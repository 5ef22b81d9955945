import json
from pathlib import Path

import pytest

from engine.flywheel.models import CheckpointStatus, ModelCheckpoint

pytestmark = pytest.mark.django_db


def test_engineer_exports_an_iteration_through_the_api(api, engineer, project, eager_celery, settings, tmp_path):
    settings.EXPORT_ROOT = tmp_path
    it = project.current_iteration()
    response = api(engineer).post(f"/api/iterations/{it.pk}/export/", {"name": "it1"}, format="json")
    assert response.status_code == 202, response.content
    manifest = json.loads((tmp_path / "it1" / "manifest.json").read_text())
    assert manifest["iteration"] == 1 and manifest["counts"] == {"samples": 0, "pairs": 0, "negatives": 0}
    again = api(engineer).post(f"/api/iterations/{it.pk}/export/", {"name": "it1"}, format="json")
    assert again.status_code == 400 and "name" in again.json()["fields"]


def test_register_and_promote_checkpoints(api, engineer, tmp_path):
    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "manifest.json").write_text("{}")
    client = api(engineer)
    ids = [client.post("/api/checkpoints/", {"name": n, "path": str(tmp_path / n), "stage": "sft"},
                       format="json").json()["id"] for n in ("a", "b", "c")]
    bad = client.post("/api/checkpoints/", {"name": "d", "path": str(tmp_path / "none"), "stage": "sft"}, format="json")
    assert bad.status_code == 400 and "path" in bad.json()["fields"]
    for pk in ids:
        client.post(f"/api/checkpoints/{pk}/promote/")
    # Two stay deployed (the default when a checkpoint names no project): the newest beside the one before.
    statuses = dict(ModelCheckpoint.objects.values_list("name", "status"))
    assert statuses == {"a": CheckpointStatus.RETIRED, "b": CheckpointStatus.PROMOTED, "c": CheckpointStatus.PROMOTED}
    from engine.flywheel.deploy import deployed_checkpoints

    assert deployed_checkpoints() == [str(Path(tmp_path / "c")), str(Path(tmp_path / "b"))]
