"""The curriculum in the queue: Task.priority of Stage 2 and Stage 3 tasks, so that claims follow the shares.

The claim serves free tasks by (balance_key, priority DESC, id) in one statement read off
task_queue_idx (engine/leases/services.py); the curriculum only writes `priority`, so the claim
stays as it is. Priorities are fair-queueing tags: the k-th waiting task (from 0) of a category
with share s is served at virtual time (k + ½)/s, stored as priority = -SCALE · time. Served by
priority, each category gets its share of the claims while it has work waiting.

- A task opened later goes one slot (SCALE/s) after the last waiting task of its category; the
  first of a category with nothing waiting goes half a slot after the head of the queue, the
  virtual time now (self-clocked fair queueing): `priority_for`, in the stage's own open_* service.
- When the shares have moved since the waiting tasks were tagged (a group neared its target),
  `refresh` tags them anew, in batches of their own short transactions (a claim skips the rows a
  batch holds, so a batch must not hold them long). It runs after the commit of a task opening
  that finds the shares moved, and every ENGINE_CURRICULUM_SECONDS from Celery beat.
"""

import logging
from datetime import UTC, datetime

from django.db import transaction
from django.db.models import Count, Max, Min

from engine.intake import curriculum
from engine.intake.models import ObjectInstance, ObjectStatus
from engine.leases.models import Stage, Task, TaskStatus

log = logging.getLogger(__name__)
STAGES = (Stage.RANK, Stage.ALIGN)  # the stages whose tasks have an object, and so a category
SCALE = 100  # priority units per unit of virtual time
LOWEST = -2_000_000_000  # Task.priority is a 32-bit integer
MOVED = 0.05  # total share (half the L1 distance) that moves before the waiting tasks are tagged anew
BATCH = 500
OPEN = (TaskStatus.OPEN, TaskStatus.LEASED)


def groups(project):
    """Return the project's curriculum groups (the shipped order when it sets none)."""
    return curriculum.groups_of(project.curriculum, project.taxonomy, project.collection_target)


def samples_by_category(project):
    """Return {category: objects that became training samples}, over all iterations of the project."""
    rows = (ObjectInstance.objects.filter(image__project=project, status=ObjectStatus.DONE)
            .values("category").annotate(n=Count("id")))
    return {r["category"]: r["n"] for r in rows}


def shares(project, samples=None):
    """Return {category: share of the claims} of the project now."""
    samples = samples_by_category(project) if samples is None else samples
    return curriculum.category_shares(groups(project), samples, project.taxonomy, project.curriculum_floor)


def _tag(rank, share):
    """Return the priority of the `rank`-th waiting task (from 0) of a category with this share."""
    if share <= 0:
        return LOWEST
    return max(LOWEST, -round(SCALE * (rank + 0.5) / share))


def priority_for(project, stage, category):
    """Return the priority of a task of `stage` about to open for an object of `category`.

    One slot after the category's last waiting task, or half a slot after the head of the queue.
    When the shares have moved since the waiting tasks were tagged, they are tagged anew once this
    transaction commits. A curriculum that cannot be used (a floor too large for a taxonomy changed
    since) orders nothing, and the task opens all the same.
    """
    if stage not in STAGES:
        return 0
    try:
        now = shares(project)
    except curriculum.CurriculumError as exc:
        log.warning("curriculum of project %s not applied: %s", project.pk, exc)
        return 0
    if moved(project.curriculum_state.get("shares") or {}, now):
        transaction.on_commit(lambda: refresh(project.pk), robust=True)
    share = now.get(category, 0.0)
    if share <= 0:
        return LOWEST
    waiting = Task.objects.filter(project=project, stage=stage, status__in=OPEN, priority__gt=LOWEST)
    last = waiting.filter(object__category=category).aggregate(p=Min("priority"))["p"]
    if last is not None:  # one slot of this category after its last waiting task
        return max(LOWEST, last - round(SCALE / share))
    # A category with nothing waiting starts from the head of the queue (the virtual time now),
    # half a slot on, as the first task of a category does in `refresh`.
    head = waiting.aggregate(p=Max("priority"))["p"]
    return max(LOWEST, min(head if head is not None else 0, 0) - round(SCALE * 0.5 / share))


def moved(before, now):
    """Whether the shares moved by more than MOVED (half the L1 distance) since `before`."""
    keys = set(before) | set(now)
    return sum(abs(before.get(k, 0.0) - now.get(k, 0.0)) for k in keys) / 2 > MOVED


def refresh(project_id, force=False):
    """Tag the waiting Stage 2 and Stage 3 tasks of a project anew from its shares now; return how many changed.

    Within a category the waiting tasks keep their order. Does nothing when the shares have not
    moved since the last refresh, unless `force`.
    """
    from engine.core.models import Project

    project = Project.objects.get(pk=project_id)
    try:
        now = shares(project)
    except curriculum.CurriculumError as exc:
        log.warning("curriculum of project %s not applied: %s", project.pk, exc)
        return 0
    if not force and not moved(project.curriculum_state.get("shares") or {}, now):
        return 0
    changed = 0
    for stage in STAGES:
        rows = (Task.objects.filter(project=project, stage=stage, status__in=OPEN, object__isnull=False)
                .order_by("-priority", "id").values_list("id", "priority", "object__category"))
        ranks, updates = {}, []
        for task_id, priority, category in rows.iterator(chunk_size=2000):
            rank = ranks[category] = ranks.get(category, -1) + 1
            tag = _tag(rank, now.get(category, 0.0))
            if tag != priority:
                updates.append(Task(pk=task_id, priority=tag))
        for start in range(0, len(updates), BATCH):
            with transaction.atomic():  # short: a claim skips the rows this batch holds until it commits
                Task.objects.bulk_update(updates[start:start + BATCH], ["priority"])
        changed += len(updates)
    Project.objects.filter(pk=project.pk).update(curriculum_state={
        "shares": now, "at": datetime.now(UTC).isoformat(timespec="seconds")})
    log.info("curriculum: project %s, %d task priorities set anew", project.pk, changed)
    return changed


def refresh_all():
    """Refresh every project with waiting Stage 2 or Stage 3 tasks (the Celery beat job); return {project: changed}."""
    projects = set(Task.objects.filter(stage__in=STAGES, status__in=OPEN).values_list("project_id", flat=True).distinct())
    return {pk: refresh(pk) for pk in sorted(projects)}
