"""Stage 3 rules: accept a pose and turn the aligned mesh into a training sample."""

from django.db import transaction
from django.utils import timezone

from engine.alignment import pose
from engine.core.errors import EngineError, ErrorCode
from engine.flywheel.models import TrainingSample
from engine.intake.models import ObjectStatus
from engine.leases import services as leases
from engine.leases.models import Stage


def submit(task_id, user, rotation, translation, scale, seconds=0.0, key=""):
    """Store the pose of a held alignment task and create its TrainingSample D+."""
    try:
        quaternion = pose.parse_rotation(rotation)
        t = pose.parse_translation(translation)
        s = pose.parse_scale(scale)
    except pose.PoseError as exc:
        raise EngineError(str(exc), fields={exc.field: [exc.reason]}) from None
    with transaction.atomic():
        task = leases.hold(task_id, user, stage=Stage.ALIGN)
        if task.stage != Stage.ALIGN:
            raise EngineError(f"Task {task.pk} is a {task.stage} task, not an alignment task.", code=ErrorCode.WRONG_STAGE)
        alignment = task.alignment
        alignment.rotation = [float(v) for v in quaternion]
        alignment.translation = [float(v) for v in t]
        alignment.scale = s
        alignment.seconds = float(seconds or 0.0)
        alignment.aligned_by = user
        alignment.aligned_at = timezone.now()
        alignment.save(update_fields=["rotation", "translation", "scale", "seconds", "aligned_by", "aligned_at"])
        candidate = alignment.candidate
        sample = TrainingSample.objects.create(
            object=task.object, iteration=task.candidate_set.iteration, alignment=alignment,
            mesh=alignment.mesh_file.name,
            source=candidate.kind if candidate else "artist",
            generator=candidate.generator if candidate else "artist",
            checkpoint=candidate.checkpoint if candidate else None,
            rotation=alignment.rotation, translation=alignment.translation, scale=s, rating=alignment.rating,
        )
        task.object.status = ObjectStatus.DONE
        task.object.save(update_fields=["status"])
        body = {"task": task.pk, "sample": sample.pk, "rotation": alignment.rotation,
                "translation": alignment.translation, "scale": s}
        leases.complete(task, user, key=key, response=body, seconds=seconds)
    return body
