"""Stage 3 tasks start from a fitted pose: fitted when the task opens, served by the claim, artist meshes from
the pose of the candidate they replace."""

import numpy as np
import pytest
from django.core.files.base import ContentFile

from engine.alignment import fitting
from engine.alignment.api import initial_pose
from engine.alignment.models import Alignment
from engine.artists.models import ArtistCase, ArtistMesh, FailureCategory
from engine.intake import masks
from engine.leases import services as leases
from engine.leases.models import Stage
from engine.ranking.services import compare, rate, session_for
from model_suite.depth import default_intrinsics
from model_suite.meshio import load_mesh
from model_suite.raycast import mask_iou

pytestmark = pytest.mark.django_db


def rank_and_rate(project, annotator, capture):
    task = leases.claim(annotator, project.pk, Stage.RANK)
    session_for(task, annotator)
    for position, answer in enumerate(["left", "equal", "right"]):
        compare(task.pk, annotator, position, answer)
    with capture(execute=True):  # the fit is sent when the task's transaction commits
        rate(task.pk, annotator, 0.8)


def served_iou(alignment, obj):
    image = obj.image
    pose = initial_pose(alignment, image)
    from engine.alignment.pose import matrix_from_quaternion

    as_matrix = {"R": matrix_from_quaternion(pose["rotation"]["quaternion"]), "t": pose["translation"], "s": pose["scale"]}
    with alignment.mesh_file.open("rb") as f:
        mesh = load_mesh(f.read())
    k = {**default_intrinsics(image.width, image.height), "width": image.width, "height": image.height}
    return mask_iou(mesh, as_matrix, k, masks.decode(obj.mask_rle))


def test_an_alignment_task_opens_with_a_fitted_pose_that_the_claim_serves(
        api, annotator, annotator2, project, candidate_set, obj, django_capture_on_commit_callbacks):
    rank_and_rate(project, annotator, django_capture_on_commit_callbacks)
    alignment = Alignment.objects.get(task__object=obj)
    fitted = alignment.initial_pose
    assert fitted is not None and fitted["source"] == "mask+refined" and fitted["iou"] > 0.6, fitted
    task = api(annotator2).post("/api/tasks/claim/", {"project": project.pk, "stage": "align"}, format="json").json()
    payload = task["payload"]
    assert payload["initial_pose"]["translation"] == pytest.approx(fitted["t"])
    note = payload["initial_pose_note"]
    assert note["fitted"] and "Start fitted to the object's mask" in note["text"]
    assert served_iou(alignment, obj) == pytest.approx(fitted["iou"], abs=0.02)
    unfitted = Alignment(task=alignment.task, candidate=alignment.candidate, rating=0.8)
    assert served_iou(unfitted, obj) < fitted["iou"] - 0.3  # where the page started before
    assert fitting.fit(alignment.pk) == fitted  # idempotent: a second fit changes nothing


def test_an_artist_mesh_starts_from_the_pose_of_the_candidate_it_replaces(project, annotator, artist, candidate_set, obj,
                                                                          glb_meshes):
    best = candidate_set.candidates.order_by("pk").first()
    best.pose = {"R": np.eye(3).tolist(), "t": [-0.05, -0.1, 2.5], "s": 0.8, "source": "estimate"}
    best.save(update_fields=["pose"])
    case_task = leases.create(project, Stage.ARTIST, image=obj.image, object=obj, candidate_set=candidate_set)
    case = ArtistCase.objects.create(task=case_task, candidate_set=candidate_set, best_candidate=best,
                                     failure_category=FailureCategory.values[0], rating=0.2)
    mesh = ArtistMesh(case=case, uploaded_by=artist, format="glb", vertices=8, triangles=12, size_bytes=len(glb_meshes[0]),
                      sha256="0" * 64)
    mesh.original.save("a.glb", ContentFile(glb_meshes[0]), save=False)
    mesh.mesh.save("a.glb", ContentFile(glb_meshes[0]), save=False)
    mesh.save()
    align_task = leases.create(project, Stage.ALIGN, image=obj.image, object=obj, candidate_set=candidate_set)
    alignment = Alignment.objects.create(task=align_task, artist_mesh=mesh, rating=1.0)
    assert fitting.start_of(alignment) == best.pose
    fitted = fitting.fit(alignment.pk)
    assert fitted["source"] in ("start+refined", "mask+refined") and fitted["iou"] > 0.6
    alignment.refresh_from_db()
    assert alignment.initial_pose == fitted
