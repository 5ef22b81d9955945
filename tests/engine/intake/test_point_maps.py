"""A point map for every image Stage 3 sees: from the registered monocular estimator at ingest, or plainly none."""

import numpy as np
import pytest

from engine.intake import point_maps
from engine.intake.models import Image
from engine.intake.services import ingest
from model_suite.depth import register_depth_estimator

pytestmark = pytest.mark.django_db


@pytest.fixture
def no_estimator(monkeypatch):
    monkeypatch.setattr("model_suite.depth._DEPTH_ESTIMATORS", {})
    monkeypatch.setattr("model_suite.depth._DEPTH_QUEUES", {})


class Slanted:
    """A stand-in estimator: a floor tilting away, 2 m at the bottom row to 6 m at the top, on the gpu queue."""

    name = "slanted"
    queue = "gpu"

    def __init__(self):
        self.calls = 0

    def __call__(self, image, intrinsics):
        self.calls += 1
        h, w = image.shape[:2]
        return np.repeat(np.linspace(6.0, 2.0, h, dtype=np.float32)[:, None], w, axis=1)


@pytest.fixture
def slanted(no_estimator):
    estimator = Slanted()
    register_depth_estimator(estimator.name, estimator)
    return estimator


def test_without_an_estimator_nothing_is_faked_and_stage_3_says_so(no_estimator, project, astronaut_png, api, engineer,
                                                                   django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        image, _ = ingest(project, astronaut_png, "astronaut.png")
    assert not callbacks  # no job queued
    image.refresh_from_db()
    assert not image.point_cloud and image.depth_source == ""
    assert point_maps.note(image) == point_maps.NONE
    assert "no monocular depth estimator is registered" in point_maps.NONE and "mesh IoU" in point_maps.NONE
    listed = api(engineer).get(f"/api/projects/{project.pk}/images/").json()["results"][0]
    assert listed["point_map"] == "none: no monocular depth estimator is registered"


def test_at_ingest_an_image_without_depth_is_queued_on_the_estimator_s_queue(slanted, project, astronaut_png,
                                                                            django_capture_on_commit_callbacks,
                                                                            monkeypatch):
    from engine.intake.tasks import estimate_point_map

    sent = []
    monkeypatch.setattr(estimate_point_map, "apply_async", lambda args, queue: sent.append((args, queue)))
    with django_capture_on_commit_callbacks(execute=True):
        image, _ = ingest(project, astronaut_png, "astronaut.png")
    assert sent == [((image.pk,), "gpu")]  # a heavy model: a GPU worker's job


def test_the_job_stores_the_estimated_depth_as_a_point_cloud_in_the_camera_frame(slanted, project, astronaut_png,
                                                                                django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # eager Celery in tests: the job runs at the commit
        image, _ = ingest(project, astronaut_png, "astronaut.png")
    image.refresh_from_db()
    assert slanted.calls == 1 and image.depth_source == "estimated:slanted"
    assert image.intrinsics["fx"] == pytest.approx(512 / (2 * np.tan(np.radians(30))))  # the 60° prior, kept
    depth = np.load(image.depth.open("rb"))
    assert depth.shape == (512, 512) and depth[0, 0] == pytest.approx(6.0) and depth[-1, 0] == pytest.approx(2.0)
    points = np.frombuffer(image.point_cloud.open("rb").read(), "<f4").reshape(-1, 3)
    assert len(points) == 256 * 256  # every second pixel in each direction
    # Back through the pinhole: each point lands on its pixel.
    k = image.intrinsics
    u = points[:, 0] * k["fx"] / points[:, 2] + k["cx"]
    v = points[:, 1] * k["fy"] / points[:, 2] + k["cy"]
    assert np.allclose(np.unique(np.round(u)), np.arange(0, 512, 2)) and np.allclose(np.unique(np.round(v)),
                                                                                       np.arange(0, 512, 2))
    assert point_maps.note(image).startswith("The point cloud was estimated from this single image by slanted")
    # Idempotent: a second run (a redelivered message) leaves it alone.
    assert point_maps.estimate(image.pk) == "estimated:slanted" and slanted.calls == 1


def test_an_image_ingested_with_depth_keeps_its_own(slanted, project, astronaut_png,
                                                    django_capture_on_commit_callbacks):
    measured = np.full((512, 512), 3.0, np.float32)
    with django_capture_on_commit_callbacks(execute=True):
        image, _ = ingest(project, astronaut_png, "astronaut.png", depth=measured,
                          intrinsics={"fx": 500, "fy": 500, "cx": 256, "cy": 256})
    image.refresh_from_db()
    assert slanted.calls == 0 and image.depth_source == "upload" and point_maps.note(image) == ""


def test_until_the_job_has_run_stage_3_says_the_estimate_is_pending(slanted, project, astronaut_png):
    image, _ = ingest(project, astronaut_png, "astronaut.png")  # the job waits for a commit that never comes here
    assert point_maps.note(Image.objects.get(pk=image.pk)) == point_maps.PENDING


def test_stage_3_payload_carries_the_note(no_estimator, candidate_set, annotator, api):
    from engine.alignment.services import open_alignment_task

    obj = candidate_set.object
    project = obj.image.project
    open_alignment_task(project, obj, candidate_set, candidate=candidate_set.candidates.first(), rating=0.9)
    task = api(annotator).post("/api/tasks/claim/", {"project": project.pk, "stage": "align"}, format="json").json()
    payload = task["payload"]
    assert payload["point_cloud_url"] is None and payload["point_cloud_source"] is None
    assert payload["point_cloud_note"] == point_maps.NONE


@pytest.mark.slow
def test_the_depth_anything_adapter_from_the_settings_gives_an_ingested_photo_its_point_map(
        no_estimator, project, astronaut_png, settings, tmp_path, django_capture_on_commit_callbacks):
    from tests.model_suite.tiny_depth_anything import write_tiny_checkpoint

    write_tiny_checkpoint(tmp_path)
    settings.MODEL_SUITE = {"depth_model": {"path": str(tmp_path), "name": "da-tiny"}}
    assert point_maps.register_configured() == "da-tiny"
    assert point_maps.estimator() == ("da-tiny", "cpu")
    with django_capture_on_commit_callbacks(execute=True):
        image, _ = ingest(project, astronaut_png, "astronaut.png")
    image.refresh_from_db()
    assert image.depth_source == "estimated:da-tiny"
    depth = np.load(image.depth.open("rb"))
    assert depth.shape == (512, 512) and np.isfinite(depth).all() and 0 < depth.max() <= 10.0
