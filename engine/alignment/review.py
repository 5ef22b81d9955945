"""Stage 3 as quality control knows it: an aligned pose as a gold answer, and the review of a flagged one."""

from engine.alignment.services import open_alignment_task
from engine.core.errors import EngineError
from engine.leases.models import Stage
from engine.quality.registry import QualitySpec
from engine.records.models import TrainingSample


def gold_alignment(task):
    """Return the gold fields of a completed alignment: its pose, checked in full (the same mesh is served)."""
    alignment = task.alignment
    if alignment.rotation is None:
        raise EngineError(f"Task {task.pk} has no submitted pose to take as gold.", fields={"task": ["no pose"]})
    return {"candidate_set": task.candidate_set, "candidate": alignment.candidate,
            "artist_mesh": alignment.artist_mesh,
            "answer": {"rotation": alignment.rotation, "translation": alignment.translation,
                       "scale": alignment.scale, "rotation_check": "full", "rating": alignment.rating}}


def review_alignment(flag, accept):
    """Accepted: the sample reaches exports. Rejected: the sample is deleted and the object is aligned again."""
    alignment = flag.task.alignment
    if accept:
        sample = TrainingSample.objects.filter(alignment=alignment).values_list("pk", flat=True).first()
        return {"sample": sample}
    deleted = TrainingSample.objects.filter(alignment=alignment).values_list("pk", flat=True).first()
    TrainingSample.objects.filter(alignment=alignment).delete()
    task = flag.task
    again = open_alignment_task(task.project, task.object, task.candidate_set, rating=alignment.rating,
                                candidate=alignment.candidate, artist_mesh=alignment.artist_mesh)
    return {"sample_deleted": deleted, "task_created": again.pk}


ALIGN_QUALITY = QualitySpec(stage=Stage.ALIGN.value, gold_answer=gold_alignment, review=review_alignment)
