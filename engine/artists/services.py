"""Stage 2.5 rules: open a case, accept an artist's upload, then send the mesh on to alignment."""

import io
import zipfile
from dataclasses import dataclass
from functools import partial

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.db import transaction

from engine.artists import uploads
from engine.artists.models import (
    ArtistCase,
    ArtistMesh,
    Failure,
    FailureCategory,
    FailureOutcome,
)
from engine.artists.signals import mesh_submitted
from engine.core import transactions
from engine.core.errors import EngineError, ErrorCode
from engine.intake.models import ObjectStatus
from engine.intake.rendering import mask_png
from engine.leases import services as leases
from engine.leases.models import Stage
from engine.records.pairs import pairs_against


def open_artist_case(project, obj, cset, *, failure_category, rating, best_candidate=None):
    """Open the Stage 2.5 case of an object no candidate got right; return its task.

    The one place artist work is made; call it inside the transaction that decided it.
    """
    category = failure_category or FailureCategory.OTHER
    # balance_key = how many cases of this category came before: serving by it interleaves
    # the categories, so artists see hard cases balanced across them.
    seen = ArtistCase.objects.filter(task__project=project, failure_category=category).count()
    task = leases.create(project, Stage.ARTIST, image=obj.image, object=obj, candidate_set=cset, balance_key=seen)
    ArtistCase.objects.create(
        task=task, candidate_set=cset, best_candidate=best_candidate, failure_category=category, rating=rating
    )
    obj.status = ObjectStatus.ARTIST
    obj.save(update_fields=["status"])
    return task


def _case(task):
    if task.stage != Stage.ARTIST:
        raise EngineError(f"Task {task.pk} is a {task.stage} task, not an artist task.", code=ErrorCode.WRONG_STAGE)
    return task.artist_case


@dataclass(frozen=True)
class CheckedUpload:
    """An upload that passed the checks: its bytes, the mesh read from them, the browser GLB and a safe name."""

    data: bytes
    mesh: uploads.CheckedMesh
    glb: bytes
    name: str


def upload(task_id, user, uploaded_file):
    """Validate an uploaded mesh and store it (original and GLB) for the held task."""
    return store_upload(task_id, user, check_upload(task_id, user, uploaded_file))


def check_upload(task_id, user, uploaded_file):
    """Validate an uploaded mesh for the held task and make its GLB; the slow part, run outside any transaction."""
    _case(leases.hold(task_id, user, for_update=False))  # refuse early, before reading the file
    limits = settings.ENGINE
    if uploaded_file.size > limits["UPLOAD_MAX_BYTES"]:
        raise EngineError(
            f"The file is {uploaded_file.size / 1e6:.1f} MB; the limit is {limits['UPLOAD_MAX_BYTES'] / 1e6:.1f} MB.",
            code=ErrorCode.UPLOAD_REJECTED, fields={"mesh": ["too large"]},
        )
    data = uploaded_file.read()
    try:
        checked = uploads.check(data, max_bytes=limits["UPLOAD_MAX_BYTES"], max_triangles=limits["UPLOAD_MAX_TRIANGLES"])
        glb = uploads.normalized_glb(checked.vertices, checked.faces)
    except uploads.UploadRejected as exc:
        raise EngineError(str(exc), code=ErrorCode.UPLOAD_REJECTED, fields={"mesh": [str(exc)]}) from None
    return CheckedUpload(data, checked, glb, uploads.safe_name(uploaded_file.name, checked.format))


def store_upload(task_id, user, upload):
    """Store a checked upload (original and GLB) for the held task; return the ArtistMesh."""
    checked, name = upload.mesh, upload.name
    with transactions.atomic():
        task = leases.hold(task_id, user)
        case = _case(task)
        mesh = ArtistMesh(
            case=case, uploaded_by=user, format=checked.format, vertices=len(checked.vertices),
            triangles=len(checked.faces), size_bytes=checked.size_bytes, sha256=checked.sha256,
        )
        # The files are written before the row. Each goes again if the row is not kept: if the
        # second file or the row fails, or a caller's transaction rolls back after this (Once.run
        # keeps the Idempotency-Key answer in it), nothing else would point at them.
        for field, stored_name, data in ((mesh.original, name, upload.data),
                                         (mesh.mesh, name.rsplit(".", 1)[0] + ".glb", upload.glb)):
            field.save(stored_name, ContentFile(data), save=False)
            transactions.on_rollback(partial(field.storage.delete, field.name))
        mesh.save()
    return mesh


def submit(task_id, user, mesh_id, seconds=0.0, key=""):
    """Submit an uploaded mesh as the answer to the case; it goes on to Stage 3."""
    with transaction.atomic():
        task = leases.hold(task_id, user)
        case = _case(task)
        mesh = case.meshes.filter(pk=mesh_id, uploaded_by=user).first()
        if mesh is None:
            raise EngineError(
                f"Mesh {mesh_id} is not one of your uploads for task {task.pk}; upload the mesh first.",
                fields={"mesh": ["unknown mesh"]},
            )
        mesh.submitted = True
        mesh.save(update_fields=["submitted"])
        cset = case.candidate_set
        pairs_against(
            task.object, cset.iteration, None, rating=1.0,
            rejected_ids=list(cset.candidates.values_list("id", flat=True)), artist_mesh=mesh,
        )
        opened = _send_on(task.project, task.object, cset, mesh)
        body = {"task": task.pk, "mesh": mesh.pk, "routed_to": opened.stage, "task_created": opened.pk}
        if task.project.artist_mesh_serves_cluster:
            body["lookalikes_served"] = serve_lookalikes(case, mesh)
        leases.complete(task, user, key=key, response=body, seconds=seconds)
    return body


def _send_on(project, obj, cset, mesh):
    """Have the stage after this one (engine.alignment, through mesh_submitted) open the object's task for the mesh."""
    opened = [made for _, made in mesh_submitted.send(ArtistCase, project=project, obj=obj, candidate_set=cset,
                                                      mesh=mesh) if made is not None]
    if len(opened) != 1:
        raise ImproperlyConfigured(f"An accepted artist mesh opens one next task; the receivers of mesh_submitted "
                                   f"opened {len(opened)}. Is engine.alignment in INSTALLED_APPS?")
    return opened[0]


def serve_lookalikes(case, mesh):
    """Send an artist's mesh to Stage 3 for the failures linked to its case's cluster; return their alignment tasks.

    Only where the project allows it (artist_mesh_serves_cluster), and only for look-alikes still
    failed: one the flywheel re-offered meanwhile has new candidates and is left to them. The mesh
    was made for another object, so it makes no preference pairs for them, only the alignment.
    """
    failure = Failure.objects.filter(case=case).first()
    if failure is None or failure.cluster_id is None:
        return []
    opened = []
    linked = (Failure.objects.filter(cluster_id=failure.cluster_id, outcome=FailureOutcome.LINKED)
              .select_related("object__image", "candidate_set", "project").order_by("id"))
    for member in linked:
        if member.object.status != ObjectStatus.FAILED or member.object.samples.exists():
            continue
        task = _send_on(member.project, member.object, member.candidate_set, mesh)
        member.outcome = FailureOutcome.SERVED
        member.save(update_fields=["outcome"])
        opened.append(task.pk)
    return opened


def bundle(task):
    """Return a zip (bytes) of the image, the mask and the best candidate of an artist case."""
    case = _case(task)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        image = task.image
        with image.file.open("rb") as f:
            archive.writestr(f"image{_suffix(image.file.name)}", f.read())
        archive.writestr("mask.png", mask_png(task.object))
        if case.best_candidate:
            with case.best_candidate.mesh.open("rb") as f:
                archive.writestr("best_candidate.glb", f.read())
        archive.writestr(
            "README.txt",
            f"Object {task.object.pk}: {task.object.category}. {task.object.description}\n"
            f"Failure category: {case.get_failure_category_display()} (rated {case.rating:.2f}).\n"
            "Upload a GLB, OBJ, PLY or STL mesh of the object in its own frame.\n",
        )
    return buffer.getvalue()


def _suffix(name):
    return "." + name.rsplit(".", 1)[-1] if "." in name else ""
