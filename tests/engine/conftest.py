"""Engine fixtures: role users, API clients, a project with an image, objects and candidates."""

import numpy as np
import pytest
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from rest_framework.test import APIClient

from engine.candidates.models import Candidate, CandidateSet, SetStatus
from engine.core.models import Project
from engine.core.roles import ANNOTATOR, ARTIST, ENGINEER, grant
from engine.intake import masks
from engine.intake.models import ObjectInstance
from engine.intake.services import ingest
from engine.ranking.services import open_ranking_tasks

KINDS = ["retrieval", "lifting", "model", "model", "retrieval", "lifting", "model", "external"]


def make_user(name, *roles):
    user = User.objects.create_user(name, password=name)
    grant(user, *roles)
    return user


@pytest.fixture
def annotator(db):
    return make_user("ann", ANNOTATOR)


@pytest.fixture
def annotator2(db):
    return make_user("ann2", ANNOTATOR)


@pytest.fixture
def artist(db):
    return make_user("art", ARTIST)


@pytest.fixture
def engineer(db):
    return make_user("eng", ENGINEER)


def client_for(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def api():
    return client_for


@pytest.fixture
def project(db, engineer):
    # Test clients answer in milliseconds: the fast-submit review is off here, and on in tests/engine/quality.
    return Project.objects.create(name="test", alpha=0.5, n_candidates=4, created_by=engineer,
                                  review_min_compare_seconds=0, review_min_align_seconds=0)


@pytest.fixture
def image(project, astronaut_png, engineer):
    img, _ = ingest(project, astronaut_png, "astronaut.png", source_dataset="skimage", user=engineer)
    return img


def box_mask(image, x0=150, y0=50, x1=350, y1=300):
    mask = np.zeros((image.height, image.width), dtype=bool)
    mask[y0:y1, x0:x1] = True
    return mask


@pytest.fixture
def obj(image, annotator):
    mask = box_mask(image)
    return ObjectInstance.objects.create(
        image=image, mask_rle=masks.encode(mask), area=int(mask.sum()), bbox=masks.bbox(mask), category="person",
        description="an astronaut in a white suit", selected_by=annotator,
    )


def ready_set(obj, meshes, n):
    """Give an object a READY candidate set of n real meshes and open its ranking task(s)."""
    project = obj.image.project
    cset = CandidateSet.objects.create(object=obj, iteration=project.current_iteration(), status=SetStatus.READY)
    for i in range(n):
        c = Candidate(candidate_set=cset, generator=f"gen-{KINDS[i % len(KINDS)]}-{i % 3}", generator_version="1",
                      kind=KINDS[i % len(KINDS)], seed=i, triangles=100, size_bytes=len(meshes[i % len(meshes)]))
        c.mesh.save(f"c{i}.glb", ContentFile(meshes[i % len(meshes)]), save=False)
        c.save()
    open_ranking_tasks(project, obj, cset)
    return cset


@pytest.fixture
def candidate_set(obj, glb_meshes):
    return ready_set(obj, glb_meshes, obj.image.project.n_candidates)


@pytest.fixture
def eager_celery():
    """Run Celery tasks in-process at call time, as the embedded demo does."""
    from engine.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield app
    app.conf.task_always_eager = before
