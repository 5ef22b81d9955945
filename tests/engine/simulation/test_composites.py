"""Composites: the stored truth is what was rendered, and none of it reaches the API."""

import io

import numpy as np
import pytest
from django.conf import settings
from PIL import Image as PILImage
from rest_framework.test import APIClient

from engine.core.models import Project
from engine.core.roles import ANNOTATOR
from engine.intake import masks
from engine.leases.models import Stage, Task
from engine.simulation import composites
from engine.simulation.models import SimulatedTruth
from model_suite.meshio import load_mesh
from tests.engine.simulation.conftest import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def project():
    return Project.objects.create(name="composites", taxonomy=["chair", "table", "mug", "bottle"])


def test_the_true_mask_is_the_rendered_object_and_the_depth_its_surface(project):
    truths = composites.seed_composites(project, 3, seed=11)
    assert [t.category for t in truths] == ["chair", "table", "mug"]  # the project's categories, cycled
    for truth in truths:
        image = truth.image
        assert image.quality_ok and Task.objects.filter(image=image, stage=Stage.SELECT).exists()
        # Render the stored mesh again at the stored pose: the hit pixels are the stored mask.
        vertices, faces = load_mesh(truth.mesh.open("rb").read())
        shape = composites.TrueShape(vertices, faces, truth.category, truth.caption, truth.shape_id)
        hit, depth, _, _ = composites.cast(shape, np.asarray(truth.rotation), np.asarray(truth.translation),
                                           truth.scale, image.width)
        mask = masks.decode(truth.mask_rle)
        assert mask.shape == (image.height, image.width) == (320, 320)
        assert (hit == mask).mean() > 0.999 and mask.mean() >= composites.MIN_AREA_FRACTION
        # The object is upright: its top (object +y) points up in the image (camera −y).
        assert (np.asarray(truth.rotation) @ [0, 1, 0])[1] < -0.7
        # The image holds the depth map and a point cloud of the visible surface only.
        stored = np.load(image.depth.open("rb"))
        assert np.array_equal(np.isfinite(stored), mask) and np.allclose(stored[mask], depth[mask])
        cloud = np.frombuffer(image.point_cloud.open("rb").read(), "<f4").reshape(-1, 3)
        assert len(cloud) == mask.sum()
        pixels = np.asarray(PILImage.open(io.BytesIO(image.file.open("rb").read())))
        assert pixels.shape == (320, 320, 3)


def test_seeding_again_adds_nothing(project):
    first = composites.seed_composites(project, 2, seed=4)
    again = composites.seed_composites(project, 2, seed=4)
    assert [t.pk for t in again] == [t.pk for t in first] and SimulatedTruth.objects.count() == 2


def test_the_truth_is_never_served(project):
    [truth] = composites.seed_composites(project, 1, seed=2)
    annotator = make_user("someone", ANNOTATOR)
    client = APIClient()
    client.force_authenticate(annotator)
    task = client.post("/api/tasks/claim/", {"project": project.pk, "stage": "select"}, format="json").json()
    body = str(task)
    assert truth.mesh.name not in body and "truth" not in body and truth.caption not in body
    # The true mesh is stored outside MEDIA_ROOT, which is all the media view serves.
    assert not truth.mesh.path.startswith(str(settings.MEDIA_ROOT).rstrip("/") + "/")
    client.force_login(annotator)
    assert client.get(f"{settings.MEDIA_URL}{truth.mesh.name}").status_code == 404
    assert client.get(f"{settings.MEDIA_URL}../{settings.MEDIA_ROOT.rsplit('/', 1)[-1]}-simulation-truth/"
                      f"{truth.mesh.name}").status_code == 404
