"""Artist triage: a share of the failures, one or a few per cluster of look-alikes, categories interleaved."""

import numpy as np
import pytest

from engine.alignment.models import Alignment
from engine.artists import triage
from engine.artists.models import ArtistCase, Failure, FailureOutcome
from engine.intake.models import ObjectStatus
from engine.leases.models import Stage, Task
from tests.engine.conftest import ready_set
from tests.engine.quality.helpers import claim, new_object, rank

pytestmark = pytest.mark.django_db

LOOKALIKE = dict(box=(150, 50, 350, 300), category="person", description="an astronaut in a white suit")
OTHERS = [dict(box=(0, 380, 180, 512), category="flag", description="a small american flag"),
          dict(box=(380, 0, 512, 120), category="lamp", description="a dark studio light"),
          dict(box=(260, 330, 460, 500), category="helmet", description="a glove holding a helmet")]


def fail(api, annotator, project, image, glb, spec, category="complex_geometry"):
    """Select an object, give it a set of one mesh (so its winner is that mesh) and rate it below α."""
    obj = new_object(image, annotator, **spec)
    ready_set(obj, [glb], 3)
    _, body = rank(api(annotator), claim(api(annotator), project), 0.1, failure_category=category)
    return obj, body


@pytest.fixture
def clustered(project):
    project.artist_cluster_distance = 0.05
    project.save()
    return project


def test_without_clustering_every_failure_goes_to_an_artist_as_before(api, annotator, project, image, glb_meshes):
    for i, spec in enumerate(OTHERS):
        _, body = fail(api, annotator, project, image, glb_meshes[i], spec)
        assert body["routed_to"] == "artist" and "cluster" not in body
    assert ArtistCase.objects.count() == 3
    assert set(Failure.objects.values_list("outcome", flat=True)) == {FailureOutcome.ARTIST}
    assert not Failure.objects.exclude(features=b"").exists()  # no features computed when nothing clusters


def test_look_alikes_form_one_cluster_whose_first_member_alone_goes_to_an_artist(api, annotator, engineer, clustered,
                                                                                image, glb_meshes):
    first, body = fail(api, annotator, clustered, image, glb_meshes[0], LOOKALIKE)
    assert body["routed_to"] == "artist"
    second, body = fail(api, annotator, clustered, image, glb_meshes[0], LOOKALIKE)
    assert body["routed_to"] is None and "look-alike" in body["reason"]
    third, body = fail(api, annotator, clustered, image, glb_meshes[1], OTHERS[0])
    assert body["routed_to"] == "artist"
    failures = {f.object_id: f for f in Failure.objects.all()}
    assert failures[second.pk].cluster_id == failures[first.pk].cluster_id != failures[third.pk].cluster_id
    assert failures[second.pk].distance < 0.01 and failures[second.pk].outcome == FailureOutcome.LINKED
    second.refresh_from_db()
    assert second.status == ObjectStatus.FAILED
    summary = api(engineer).get(f"/api/projects/{clustered.pk}/failures/").json()
    assert (summary["failures"], summary["clusters"], summary["artist_tasks"]) == (3, 2, 2)
    assert summary["by_outcome"] == {"artist": 2, "linked": 1}
    replay = triage.recluster(clustered, [0.0001, 0.05, 2.0], share=1.0)
    assert [r["clusters"] for r in replay] == [2, 2, 1] and replay[1]["artist_tasks"] == 2


def test_a_share_of_the_failures_goes_to_artists_and_the_rest_stays_failed(api, annotator, clustered, image,
                                                                            glb_meshes):
    clustered.artist_share = 0.5
    clustered.save()
    outcomes = [fail(api, annotator, clustered, image, glb_meshes[i], spec)[1]["routed_to"]
                for i, spec in enumerate([LOOKALIKE, *OTHERS])]
    assert outcomes == ["artist", None, "artist", None]  # ceil(share × failures so far) cases at most
    assert Failure.objects.filter(outcome=FailureOutcome.HELD).count() == 2
    assert set(Failure.objects.filter(outcome=FailureOutcome.HELD).values_list("object__status", flat=True)) == {
        ObjectStatus.FAILED}


def test_a_larger_cluster_without_an_artist_goes_before_a_new_single_failure(api, annotator, clustered, image,
                                                                              glb_meshes):
    clustered.artist_share = 0.25
    clustered.save()
    fail(api, annotator, clustered, image, glb_meshes[1], OTHERS[0])  # 1 of 1: to an artist
    lookalikes = [fail(api, annotator, clustered, image, glb_meshes[0], LOOKALIKE)[0] for _ in range(3)]  # held
    assert ArtistCase.objects.count() == 1
    _, body = fail(api, annotator, clustered, image, glb_meshes[2], OTHERS[1])  # 5 failures: room for a second
    assert body["routed_to"] is None and "larger cluster" in body["reason"]
    case = ArtistCase.objects.order_by("-id").first()
    assert case.task.object_id == lookalikes[0].pk  # the oldest member of the cluster of three


def test_an_artist_mesh_serves_its_look_alikes_where_the_project_allows_it(api, annotator, artist, clustered, image,
                                                                           glb_meshes):
    clustered.artist_mesh_serves_cluster = True
    clustered.save()
    first, _ = fail(api, annotator, clustered, image, glb_meshes[0], LOOKALIKE)
    second, _ = fail(api, annotator, clustered, image, glb_meshes[0], LOOKALIKE)
    client = api(artist)
    task = claim(client, clustered, "artist")
    assert task["payload"]["object"]["id"] == first.pk
    import trimesh

    mesh = trimesh.creation.box((1, 0.5, 0.5))
    upload = client.post(f"/api/tasks/{task['id']}/upload/", {"mesh": _ply(mesh)}, format="multipart")
    assert upload.status_code in (200, 201), upload.content
    response = client.post(f"/api/tasks/{task['id']}/submit/", {"mesh": upload.json()["id"]}, format="json")
    assert response.status_code == 200, response.content
    served = response.json()["lookalikes_served"]
    assert len(served) == 1
    alignment = Alignment.objects.get(task_id=served[0])
    assert alignment.task.object_id == second.pk and alignment.artist_mesh_id == upload.json()["id"]
    assert Failure.objects.get(object=second).outcome == FailureOutcome.SERVED


def test_categories_stay_interleaved_in_the_artists_queue(api, annotator, clustered, image, glb_meshes):
    for i, (spec, category) in enumerate(zip([LOOKALIKE, *OTHERS], ["occlusion", "occlusion", "transparency",
                                                                     "transparency"])):
        fail(api, annotator, clustered, image, glb_meshes[i], spec, category=category)
    order = list(Task.objects.filter(stage=Stage.ARTIST).order_by("balance_key", "-priority", "id")
                 .values_list("artist_case__failure_category", flat=True))
    assert order == ["occlusion", "transparency", "occlusion", "transparency"]


def test_distance_weighs_the_three_blocks_and_an_empty_block_counts_as_far():
    from model_suite.features import IMAGE_DIM, SHAPE_DIM

    size = IMAGE_DIM + SHAPE_DIM + triage.TEXT_DIM
    a = np.zeros(size, np.float32)
    a[0], a[IMAGE_DIM], a[IMAGE_DIM + SHAPE_DIM] = 1, 1, 1
    assert triage.distance(a, a) == pytest.approx(0)
    b = a.copy()
    b[IMAGE_DIM + SHAPE_DIM:] = 0  # no text
    assert triage.distance(a, b) == pytest.approx(1 / 3)


def _ply(mesh):
    import io

    from django.core.files.uploadedfile import SimpleUploadedFile

    buffer = io.BytesIO()
    mesh.export(buffer, file_type="ply")
    return SimpleUploadedFile("mesh.ply", buffer.getvalue(), content_type="application/octet-stream")
