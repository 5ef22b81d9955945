"""Quality-control records: gold copies mixed into a stage's queue, their scores, and review flags.

The stages call these from their own services: a stage opens its gold copies itself (its
`open_*` service stays the one place its work is made), scores them and flags fast submits.
The figures and the review decisions are in figures.py and api.py.
"""

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from engine.core import rows
from engine.core.errors import EngineError, ErrorCode
from engine.leases.models import Task, TaskStatus
from engine.quality import registry, rules
from engine.quality.models import (
    FlagStatus,
    GoldCopy,
    GoldSource,
    GoldStandard,
    ReviewFlag,
)


def due_gold(project, stage):
    """Return the gold standard to serve next with the stage's new work, or None while gold is at the project's rate.

    The standard served least so far comes first, so every known answer is used before any repeats;
    one whose last copy still waits for someone is skipped.
    """
    if project.gold_rate <= 0:
        return None
    # A gold with a copy still waiting is left out: a copy can only go to someone who has not seen the
    # object, and two waiting copies of one object would pile up where few people work.
    golds = (GoldStandard.objects.filter(project=project, stage=stage, active=True)
             .exclude(copies__task__status__in=[TaskStatus.OPEN, TaskStatus.LEASED]))
    if not golds.exists():
        return None
    gold_tasks = GoldCopy.objects.filter(task__project=project, task__stage=stage).count()
    regular = Task.objects.filter(project=project, stage=stage).count() - gold_tasks
    if not rules.wants_gold(regular, gold_tasks, project.gold_rate):
        return None
    return golds.annotate(served=Count("copies")).order_by("served", "id").first()


def record_copy(task, gold):
    """Mark a task its stage just opened from `gold` as a gold copy."""
    return GoldCopy.objects.create(task=task, gold=gold)


def copy_of(task):
    """Return the task's GoldCopy, or None for a task of ordinary work."""
    try:
        return task.gold_copy
    except GoldCopy.DoesNotExist:
        return None


def score(copy, user, result):
    """Store how a gold copy's answer scored (`result` from rules.rank_result or rules.pose_result)."""
    copy.answered_by = user
    copy.passed = bool(result["passed"])
    copy.result = result
    copy.answered_at = timezone.now()
    copy.save(update_fields=["answered_by", "passed", "result", "answered_at"])
    return copy


def flag(task, user, reasons, detail):
    """Hold a submit for review: record a ReviewFlag of the task (compile-once: it is on the Stage 3 submit's path)."""
    return rows.insert(ReviewFlag(task_id=task.pk, project_id=task.project_id, stage=task.stage, user=user,
                                  reasons=list(reasons), detail=detail))


def open_flag(task):
    """Return the task's open review flag, or None."""
    return ReviewFlag.objects.filter(task=task, status=FlagStatus.OPEN).first()


def mark_gold(task, user):
    """Make a completed task's answer a gold standard of its project (idempotent); return it."""
    spec = registry.get(task.stage)
    if spec is None:
        raise EngineError(f"Task {task.pk} is a {task.stage} task; gold answers exist for Stage 2 and Stage 3 only.",
                          code=ErrorCode.WRONG_STAGE)
    if task.status != TaskStatus.DONE:
        raise EngineError(f"Task {task.pk} is {task.status}; only a completed task's answer can be gold.",
                          fields={"task": ["not completed"]})
    if copy_of(task) is not None:
        raise EngineError(f"Task {task.pk} is itself a gold copy; mark the task it was copied from.",
                          fields={"task": ["a gold copy"]})
    existing = GoldStandard.objects.filter(origin_task=task).first()
    if existing:
        return existing
    fields = spec.gold_answer(task)
    return GoldStandard.objects.create(project_id=task.project_id, stage=task.stage, object_id=task.object_id,
                                       source=GoldSource.ENGINEER, origin_task=task, created_by=user, **fields)


def decide(flag_id, accept, user, note=""):
    """Apply an engineer's decision on an open review flag through its stage's hook; return the flag."""
    with transaction.atomic():
        found = ReviewFlag.objects.select_for_update().select_related("task", "project").filter(pk=flag_id).first()
        if found is None:
            raise EngineError(f"Review flag {flag_id} does not exist.", code=ErrorCode.NOT_FOUND, status_code=404)
        if found.status != FlagStatus.OPEN:
            raise EngineError(f"Review flag {flag_id} was already {found.status} by user {found.reviewed_by_id}.",
                              code=ErrorCode.TASK_CLOSED, status_code=409)
        spec = registry.get(found.stage)
        found.outcome = spec.review(found, accept) if spec else {}
        found.status = FlagStatus.ACCEPTED if accept else FlagStatus.REJECTED
        found.note = note or ""
        found.reviewed_by = user
        found.reviewed_at = timezone.now()
        found.save(update_fields=["outcome", "status", "note", "reviewed_by", "reviewed_at"])
    return found
