"""Push into the tail: objects whose sets failed in earlier iterations are offered again with the new suite.

After a promotion the suite holds the new checkpoint, and the re-offered object's set is amplified:
our model samples project.tail_best_of shapes and proposes the best of them (ranked by their fit
to the library's shapes of the object's category, else by the DPO implicit reward or by silhouette
agreement: model_suite.flow_model), so an object no proposer got right before may get a
good candidate now. An object is re-offered when a set of it failed before iteration k+1, it never became a
training sample, and nobody is working on it: failed and not routed, or waiting for an artist
whose task nobody has claimed (that task is cancelled, as the new set replaces it).
"""

from django.db import transaction

from engine.candidates.models import CandidateSet, SetStatus
from engine.intake.models import ObjectInstance, ObjectStatus
from engine.leases.models import Stage, Task, TaskStatus


def tail_count(project):
    """Return how many failed objects the next collection re-offers: tail_share of collection_target."""
    return round(project.tail_share * project.collection_target)


def failed_objects(project, iteration):
    """Return the project's objects that failed before `iteration` and are free to offer again, oldest first."""
    return (ObjectInstance.objects
            .filter(image__project=project, status__in=[ObjectStatus.FAILED, ObjectStatus.ARTIST],
                    candidate_sets__status=SetStatus.FAILED, candidate_sets__iteration__number__lt=iteration.number)
            .exclude(samples__isnull=False).exclude(candidate_sets__iteration=iteration)
            .exclude(tasks__stage=Stage.ARTIST, tasks__status=TaskStatus.LEASED)
            .distinct().order_by("id"))


def reoffer(project, iteration, count, start=None):
    """Open a new candidate set in `iteration` for up to `count` failed objects; return their ids.

    `start(object_id)` launches generation (default: the Celery task, in-process without Redis).
    """
    if start is None:
        from engine.candidates.tasks import start_generation

        start = start_generation.delay
    offered = []
    for obj in failed_objects(project, iteration)[:count]:
        with transaction.atomic():
            if obj.status == ObjectStatus.ARTIST:
                # Conditional: an artist who claimed it a moment ago keeps it, and the object stays theirs.
                open_cases = Task.objects.filter(object=obj, stage=Stage.ARTIST, status__in=[TaskStatus.OPEN])
                leased = Task.objects.filter(object=obj, stage=Stage.ARTIST, status=TaskStatus.LEASED).exists()
                if leased:
                    continue
                open_cases.update(status=TaskStatus.CANCELLED)
            # The set opens here, amplified; generation (engine.candidates.generation.prepare) then finds it.
            CandidateSet.objects.get_or_create(object=obj, iteration=iteration,
                                               defaults={"best_of": project.tail_best_of})
            offered.append(obj.pk)
        start(obj.pk)
    return offered
