"""Claiming, holding, releasing and completing tasks under a lease.

PostgreSQL: the claim takes the first free row with `SELECT … FOR UPDATE SKIP LOCKED`, so
concurrent claimants never get the same task and never wait on each other.
SQLite (the embedded default) has no row locks: the claim is one conditional UPDATE that
only succeeds while the lease is still free, which SQLite applies atomically; a claimant
that loses the race tries the next free task.
"""

from datetime import timedelta

from django.conf import settings
from django.db import connections, router, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from engine.core.errors import ErrorCode, LeaseError
from engine.leases.models import Stage, Task, TaskStatus

_SQLITE_CLAIM_ATTEMPTS = 50
# What a claimed task of each stage is served with, fetched in the same query.
STAGE_RELATED = {
    Stage.SELECT: ("project", "image"),
    Stage.RANK: ("image", "object", "candidate_set__iteration"),
    Stage.ARTIST: ("image", "object", "artist_case__best_candidate"),
    Stage.ALIGN: ("image", "object", "candidate_set__iteration", "alignment__candidate", "alignment__artist_mesh"),
}
PAYLOAD_RELATED = ("image", "object", "candidate_set__iteration")


def _now():
    """Return the current time (used for mocking in tests)."""
    return timezone.now()


def lease_duration():
    return timedelta(seconds=settings.ENGINE["LEASE_SECONDS"])


def expire_leases(project_id, stage, now):
    """Return the tasks of a stage whose lease ran out to the pool; return how many.

    The expired holder stays recorded (lease_owner, lease_expires_at), so a late submit is told
    its lease expired rather than that it never held the task. Claims then look at open rows
    only, in the order of an index, instead of sorting every row that might be free.
    """
    return Task.objects.filter(
        project_id=project_id, stage=stage, status=TaskStatus.LEASED, lease_expires_at__lte=now
    ).update(status=TaskStatus.OPEN)


def claimable(project_id, stage, user, now, failure_category=""):
    """Return the queryset of tasks of a stage this user may claim now, in serving order."""
    tasks = Task.objects.filter(project_id=project_id, stage=stage, status=TaskStatus.OPEN)
    if failure_category:
        tasks = tasks.filter(artist_case__failure_category=failure_category)
    if stage == Stage.RANK:
        # An annotator never ranks the same object twice (overlap goes to other annotators).
        seen = Task.objects.filter(object_id=OuterRef("object_id"), stage=Stage.RANK).filter(
            Q(completed_by=user) | Q(status=TaskStatus.LEASED, lease_owner=user, lease_expires_at__gt=now)
        )
        tasks = tasks.filter(~Exists(seen))
    return tasks.order_by("balance_key", "-priority", "id")


def held(user, project_id, stage):
    """Return the task of a stage the user already holds under a live lease, or None."""
    # Usually there is none: ask for the id alone, and join the payload's tables only for a hit.
    task_id = next(iter(
        Task.objects.filter(project_id=project_id, stage=stage, status=TaskStatus.LEASED, lease_owner=user,
                            lease_expires_at__gt=_now())
        .order_by().values_list("id", flat=True)[:1]
    ), None)
    return Task.objects.select_related(*STAGE_RELATED[stage]).get(id=task_id) if task_id else None


def claim(user, project_id, stage, failure_category=""):
    """Lease the next task of a stage to the user and return it, or None if none is free."""
    now = _now()
    using = router.db_for_write(Task)
    values = {
        "status": TaskStatus.LEASED,
        "lease_owner": user,
        "lease_expires_at": now + lease_duration(),
        "claimed_at": now,
    }
    expire_leases(project_id, stage, now)
    if connections[using].vendor == "postgresql":
        task_id = _claim_skip_locked(user, project_id, stage, now, values, using, failure_category)
        return Task.objects.select_related(*STAGE_RELATED[stage]).get(id=task_id) if task_id else None
    for _ in range(_SQLITE_CLAIM_ATTEMPTS):
        task_id = claimable(project_id, stage, user, now, failure_category).values_list("id", flat=True).first()
        if task_id is None:
            return None
        won = Task.objects.filter(id=task_id, status=TaskStatus.OPEN).update(claims=F("claims") + 1, **values)
        if won:
            return Task.objects.select_related(*STAGE_RELATED[stage]).get(id=task_id)
    return None


def _claim_skip_locked(user, project_id, stage, now, values, using, failure_category):
    """Lease the first free row in one statement: UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED).

    The statement is its own transaction: the row lock taken by the subquery is held until the
    UPDATE commits, and rows other claimants hold are skipped, not waited for.
    """
    pick = claimable(project_id, stage, user, now, failure_category).values("id")[:1]
    pick_sql, pick_params = pick.query.sql_with_params()
    sql = (
        f"UPDATE {Task._meta.db_table} SET status = %s, lease_owner_id = %s, lease_expires_at = %s, "
        f"claimed_at = %s, claims = claims + 1 WHERE id = ({pick_sql} FOR UPDATE SKIP LOCKED) RETURNING id"
    )
    params = [values["status"], user.pk, values["lease_expires_at"], values["claimed_at"], *pick_params]
    with connections[using].cursor() as cursor:
        # A row another claimant just took is skipped rather than re-read, so a claim can come back
        # empty while free rows remain; one retry settles it (the queue is empty if it is still empty).
        for _ in range(2):
            cursor.execute(sql, params)
            row = cursor.fetchone()
            if row:
                return row[0]
    return None


def hold(task_id, user, *, for_update=True, stage=None):
    """Return the task if the user holds a live lease on it; raise LeaseError otherwise.

    Call inside a transaction: on PostgreSQL the row stays locked until the write commits, so
    a submit and a lease expiry or a second submit cannot interleave.
    """
    qs = Task.objects.select_related(*(STAGE_RELATED[stage] if stage else PAYLOAD_RELATED))
    if for_update:
        qs = qs.select_for_update(of=("self",))
    try:
        task = qs.get(id=task_id)
    except Task.DoesNotExist:
        raise LeaseError(f"Task {task_id} does not exist.", code=ErrorCode.NOT_FOUND, status_code=404) from None
    check_lease(task, user)
    return task


def check_lease(task, user):
    """Raise LeaseError unless the user holds a live lease on the task."""
    if task.status == TaskStatus.DONE:
        raise LeaseError(f"Task {task.pk} is already submitted.", code=ErrorCode.TASK_CLOSED)
    if task.lease_owner_id != user.pk or task.status not in (TaskStatus.LEASED, TaskStatus.OPEN):
        raise LeaseError(
            f"You do not hold task {task.pk}; claim a task first.", code=ErrorCode.LEASE_NOT_HELD, status_code=403
        )
    if task.status == TaskStatus.OPEN or task.lease_expires_at <= _now():
        raise LeaseError(
            f"Your lease on task {task.pk} expired at {task.lease_expires_at.isoformat()}; claim a new task.",
            code=ErrorCode.LEASE_EXPIRED,
        )


def replay(task_id, user, key):
    """Return (stage, stored response of an earlier submit with this idempotency key or None).

    The stage is None when the task does not exist.
    """
    row = Task.objects.filter(id=task_id).values_list("stage", "status", "completed_by", "submit_key",
                                                      "submit_response").first()
    if row is None:
        return None, None
    stage, status, completed_by, submit_key, response = row
    if key and status == TaskStatus.DONE and completed_by == user.pk and submit_key == key:
        return stage, response
    return stage, None


def complete(task, user, *, key="", response=None, seconds=0.0):
    """Mark a held task done, storing the response an identical resubmit will get."""
    task.status = TaskStatus.DONE
    task.completed_by = user
    task.completed_at = _now()
    task.submit_key = key or ""
    task.submit_response = response
    task.seconds_spent = float(seconds or 0.0)
    task.lease_expires_at = None
    task.save(
        update_fields=["status", "completed_by", "completed_at", "submit_key", "submit_response", "seconds_spent",
                       "lease_expires_at"]
    )


def release(task_id, user):
    """Give a held task back to the pool."""
    with transaction.atomic():
        task = hold(task_id, user)
        task.status = TaskStatus.OPEN
        task.lease_owner = None
        task.lease_expires_at = None
        task.save(update_fields=["status", "lease_owner", "lease_expires_at"])
    return task


def extend(task_id, user):
    """Renew the user's lease on a task for another lease period."""
    with transaction.atomic():
        task = hold(task_id, user)
        task.lease_expires_at = _now() + lease_duration()
        task.save(update_fields=["lease_expires_at"])
    return task


def create(project, stage, **fields):
    """Open a new task of a stage."""
    return Task.objects.create(project=project, stage=stage, **fields)
