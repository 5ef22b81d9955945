"""Stage 3 rules: open an alignment task, accept a pose and turn the aligned mesh into a training sample."""

from django.db import transaction
from django.utils import timezone

from engine.alignment import pose
from engine.alignment.models import Alignment
from engine.core import rows
from engine.core.errors import EngineError, ErrorCode
from engine.flywheel.models import TrainingSample
from engine.intake.models import ObjectInstance, ObjectStatus
from engine.leases import services as leases
from engine.leases.models import Stage

# What a submit reads besides the task: the iteration (via the set) and the mesh it turns into a sample.
SUBMIT_RELATED = ("candidate_set", "alignment__candidate", "alignment__artist_mesh")


def open_alignment_task(project, obj, cset, *, rating, candidate=None, artist_mesh=None):
    """Open the Stage 3 task of an object: align `candidate` (a Stage 2 winner) or `artist_mesh`; return the task.

    The one place alignment work is made; call it inside the transaction that decided it.
    """
    task = leases.create(project, Stage.ALIGN, image=obj.image, object=obj, candidate_set=cset)
    Alignment.objects.create(task=task, candidate=candidate, artist_mesh=artist_mesh, rating=rating)
    obj.status = ObjectStatus.ALIGNING
    obj.save(update_fields=["status"])
    return task


def open_for_artist_mesh(sender, *, task, mesh, candidate_set, **kwargs):
    """Receiver of engine.artists.signals.mesh_submitted: an artist's accepted mesh goes on to Stage 3."""
    return open_alignment_task(task.project, task.object, candidate_set, artist_mesh=mesh, rating=1.0)


def submit(task_id, user, rotation, translation, scale, seconds=0.0, key=""):
    """Store the pose of a held alignment task and create its TrainingSample D+."""
    parsed, errors = [], {}
    for parse, value in ((pose.parse_rotation, rotation), (pose.parse_translation, translation),
                         (pose.parse_scale, scale)):
        try:
            parsed.append(parse(value))
        except pose.PoseError as exc:  # report every bad field at once
            errors[exc.field] = [exc.reason]
    if errors:
        raise EngineError("Invalid pose: " + "; ".join(f"{k}: {v[0]}" for k, v in errors.items()), fields=errors)
    quaternion, t, s = parsed
    with transaction.atomic():
        task = leases.hold(task_id, user, related=SUBMIT_RELATED)
        if task.stage != Stage.ALIGN:
            raise EngineError(f"Task {task.pk} is a {task.stage} task, not an alignment task.", code=ErrorCode.WRONG_STAGE)
        alignment = task.alignment
        alignment.rotation = [float(v) for v in quaternion]
        alignment.translation = [float(v) for v in t]
        alignment.scale = s
        alignment.seconds = float(seconds or 0.0)
        alignment.aligned_by = user
        alignment.aligned_at = timezone.now()
        candidate = alignment.candidate
        # The hot path of the claim benchmark: compile-once writes (rows), the three updates in one statement.
        sample = rows.insert(TrainingSample(
            object_id=task.object_id, iteration_id=task.candidate_set.iteration_id, alignment=alignment,
            mesh=alignment.mesh_file.name,
            source=candidate.kind if candidate else "artist",
            generator=candidate.generator if candidate else "artist",
            checkpoint_id=candidate.checkpoint_id if candidate else None,
            rotation=alignment.rotation, translation=alignment.translation, scale=s, rating=alignment.rating,
        ))
        body = {"task": task.pk, "sample": sample.pk, "rotation": alignment.rotation,
                "translation": alignment.translation, "scale": s}
        rows.update_all([
            (alignment, ["rotation", "translation", "scale", "seconds", "aligned_by", "aligned_at"]),
            (ObjectInstance(pk=task.object_id, status=ObjectStatus.DONE), ["status"]),
            leases.completed(task, user, key=key, response=body, seconds=seconds),
        ])
    return body
