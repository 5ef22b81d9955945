"""Claiming, holding, releasing and completing tasks under a lease.

PostgreSQL: the claim takes the first free row with `SELECT … FOR UPDATE SKIP LOCKED`, so
concurrent claimants never get the same task and never wait on each other.
SQLite (the embedded default) has no row locks: the claim is one conditional UPDATE that
only succeeds while the lease is still free, which SQLite applies atomically; a claimant
that loses the race tries the next free task.

Claims of one user on one stage of a project (two tabs, a double click) run one after the
other: otherwise each reads the queue before the other's lease is visible, and the user
ends up holding two tasks, possibly both overlap copies of one object in Stage 2.
PostgreSQL serializes them with a transaction-scoped advisory lock, SQLite by taking its
write lock when the claim's transaction begins (BEGIN IMMEDIATE, see settings; system check leases.E001).

The queue knows no stage: what a claim of a stage adds to its statement (a condition, the
rows its task is served with) comes from the stage's spec in engine/leases/registry.py.
"""

import hashlib
from datetime import timedelta
from functools import lru_cache

from django.conf import settings
from django.db import connections, router, transaction
from django.utils import timezone

from engine.core import rows
from engine.core.errors import ErrorCode, LeaseError
from engine.leases import registry
from engine.leases.models import Skip, Task, TaskStatus

_SQLITE_CLAIM_ATTEMPTS = 50
PAYLOAD_RELATED = ("image", "object", "candidate_set__iteration")


def _now():
    """Return the current time (used for mocking in tests)."""
    return timezone.now()


def lease_duration():
    return timedelta(seconds=settings.ENGINE["LEASE_SECONDS"])


def fetch(task_id, stage=None, *, for_update=False, related=None):
    """Return a task with what its stage is served with (or `related`) joined in, in one query; or None."""
    related = related if related is not None else registry.get(stage).related if stage else PAYLOAD_RELATED
    return _fetch(None, related, for_update).get(task_id)


@lru_cache(maxsize=32)
def _fetch(stage, related=None, for_update=False):
    return rows.Fetch(Task, *(related if related is not None else registry.get(stage).related), for_update=for_update)


def _execute(sql, params, using):
    with rows.cursor(using) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() if cursor.description else cursor.rowcount


@lru_cache(maxsize=8)
def _statements(using):
    """The queue's statements that do not depend on the stage, written once from the models' metadata."""
    q = connections[using].ops.quote_name
    task = q(Task._meta.db_table)
    statements = {
        "held": f"SELECT id FROM {task} WHERE {_MINE} LIMIT 1",
        "held_count": f"SELECT COUNT(*) FROM {task} WHERE {_MINE}",
        # The expired holder stays recorded, so a late submit is told its lease expired.
        "expire": f"UPDATE {task} SET status = 'open' WHERE project_id = %(project)s AND stage = %(stage)s "
                  f"AND status = 'leased' AND lease_expires_at <= %(now)s",
        # Held until the claim's transaction ends (see _claim_lock).
        "serialize": "SELECT pg_advisory_xact_lock(%(lock)s)",
        # What a submit reads before it knows the stage: only what an idempotent replay needs.
        "replay": f"SELECT stage, status, completed_by_id, submit_key, submit_response FROM {task} WHERE id = %(id)s",
        "take_if_open": f"UPDATE {task} SET {_LEASE} WHERE id = %(id)s AND status = 'open'",
    }
    return statements


_MINE = ("project_id = %(project)s AND stage = %(stage)s AND status = 'leased' AND lease_owner_id = %(user)s "
         "AND lease_expires_at > %(now)s")
_LEASE = ("status = 'leased', lease_owner_id = %(user)s, lease_expires_at = %(until)s, claimed_at = %(now)s, "
          "claims = claims + 1")


@lru_cache(maxsize=64)
def _claim_statements(using, stage, filters):
    """The claim's statements for one stage narrowed by the named claim `filters`, written once.

    The stage supplies its conditions (registry.StageSpec.claim_sql and claim_filters) as SQL
    fragments on the candidate row `t`, so each claim stays one statement.
    """
    spec = registry.get(stage)
    connection = connections[using]
    q = connection.ops.quote_name
    task = q(Task._meta.db_table)
    skips = q(Skip._meta.db_table)
    skip_locked = " FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    conditions = [spec.claim_sql(q)] if spec.claim_sql else []
    conditions += [spec.claim_filters[name].sql(q) for name in filters]
    extra = "".join(f" AND {condition}" for condition in conditions)
    # Free tasks of a stage in serving order, read off task_queue_idx, but not one this user skipped.
    where = (
        f"t.project_id = %(project)s AND t.stage = %(stage)s AND {{state}}"
        f" AND NOT EXISTS (SELECT 1 FROM {skips} k WHERE k.task_id = t.id AND k.user_id = %(user)s "
        f"AND k.until > %(now)s){extra}"
    )
    pick = f"SELECT t.id FROM {task} t WHERE {where} ORDER BY t.balance_key, t.priority DESC, t.id LIMIT 1{skip_locked}"
    is_open = "t.status = 'open'"
    lapsed = "t.status = 'leased' AND t.lease_expires_at <= %(now)s"
    # What a claim could lease this user now, open or lapsed, counted by the same conditions (the home page's figure).
    statements = {"pick": pick.format(state=is_open),
                  "free": f"SELECT COUNT(*) FROM {task} t WHERE {where.format(state=f'({is_open} OR {lapsed})')}"}
    # PostgreSQL: one statement per claim (after the user's claim lock), which names the task it
    # serves `chosen` for the payload's joins (rows.Fetch.select_from). It returns the task the
    # user already holds (serve), else leases the first free task in serving order, open or with
    # a lapsed lease; then it opens the other lapsed tasks. The sub-statements of a WITH share
    # one snapshot: lapsed tasks are picked as they stand (still 'leased') rather than after
    # `expired` opens them, and `expired` leaves alone the row `taken` writes, so no row is
    # written twice. A lease is not worth a disk flush: the claim commits without waiting for
    # one (synchronous_commit off for its transaction only). A database crash can then lose the
    # last fraction of a second of leases, which returns those tasks to the pool, as expiry
    # would; submits stay durable. The flush cost as much CPU as the rest of the claim. A claim
    # made inside a caller's transaction (the `_durable` statements) leaves the setting alone,
    # since it would apply to everything that transaction writes.
    heads = ", ".join(f"({pick.format(state=state)})" for state in (lapsed, is_open))
    free = f"(SELECT f.id FROM {task} f WHERE f.id IN ({heads}) ORDER BY f.balance_key, f.priority DESC, f.id LIMIT 1)"
    take = f"UPDATE {task} SET {_LEASE} WHERE {{guard}}id = {free} RETURNING *"
    expired = f"expired AS ({_statements(using)['expire']} AND id NOT IN (SELECT id FROM taken))"
    held = f"held AS (SELECT * FROM {task} WHERE {_MINE} LIMIT 1)"
    for suffix, no_flush, taken_rows in (
        ("", "no_flush AS (SELECT set_config('synchronous_commit', 'off', true)), ",
         "SELECT taken.* FROM taken CROSS JOIN no_flush"),
        ("_durable", "", "SELECT * FROM taken"),
    ):
        statements[f"claim{suffix}"] = (f"WITH {no_flush}taken AS ({take.format(guard='')}), {expired}, "
                                        f"chosen AS ({taken_rows})")
        statements[f"serve{suffix}"] = (
            f"WITH {no_flush}{held}, taken AS ({take.format(guard='NOT EXISTS (SELECT 1 FROM held) AND ')}), "
            f"{expired}, chosen AS (SELECT * FROM held UNION ALL {taken_rows})"
        )
    return statements


@lru_cache(maxsize=64)
def _claim_sql(using, stage, name, filters=()):
    """The claim statement `name` with the joins of what a task of `stage` is served with."""
    return f"{_claim_statements(using, stage, filters)[name]} {_fetch(stage).select_from('chosen', using)}"


def _used_filters(stage, filters):
    """Return the names of the stage's claim filters given a value, in a stable order (the statements' cache key)."""
    declared = registry.get(stage).claim_filters
    return tuple(sorted(name for name, value in filters.items() if value and name in declared))


def _claim_lock(user_id, project_id, stage):
    """Return the advisory lock key of one user's claims on one stage of a project (a signed 64-bit integer).

    A hash: two keys that collide only make two unrelated claims wait for each other.
    """
    digest = hashlib.blake2b(f"engine.claim:{user_id}:{project_id}:{stage}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def claim(user, project_id, stage, **filters):
    """Lease the next free task of a stage to the user and return it, or None if none is free.

    `filters` narrow the claim by the stage's claim filters (an artist case of one failure
    category: failure_category="transparency"); an empty value or a filter the stage does not
    declare narrows nothing.
    PostgreSQL: one statement, UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED), in a
    transaction of its own after the user's claim lock: the row lock taken by the subquery is
    held until the UPDATE commits, and rows other claimants hold are skipped, not waited for.
    SQLite: in one write transaction, pick, then a conditional UPDATE that only succeeds while
    the task is still open.
    """
    return _serve(user, project_id, stage, filters, held_first=False)


def serve(user, project_id, stage, **filters):
    """Return the task of a stage the user holds, else lease them the next free one; None if none is free.

    What the claim endpoint does: a task you already hold comes back first (a reload, a second
    tab), so no one hoards a queue.
    """
    return _serve(user, project_id, stage, filters, held_first=True)


def _serve(user, project_id, stage, filters, held_first):
    now = _now()
    stage = str(stage)
    using = router.db_for_write(Task)
    connection = connections[using]
    at = connection.ops.adapt_datetimefield_value
    used = _used_filters(stage, filters)
    params = {"project": project_id, "stage": stage, "user": user.pk, "now": at(now),
              "until": at(now + lease_duration()), **{name: filters[name] for name in used}}
    # In a caller's transaction the claim is part of it (no savepoint: nothing to undo alone),
    # and the claim lock is held until that transaction ends.
    in_callers = connection.in_atomic_block
    with transaction.atomic(using, savepoint=False):
        if connection.vendor == "postgresql":
            return _serve_postgresql(params, stage, used, held_first, durable=in_callers, using=using)
        return _serve_sqlite(params, stage, used, held_first, using)


def _serve_postgresql(params, stage, used, held_first, durable, using):
    # The claim's statement reads the queue in a snapshot taken when it starts, so it must start
    # only once this user's previous claim has committed: then it sees that claim's lease, and
    # serves that task (serve) or skips that object's overlap copies (rank).
    _execute(_statements(using)["serialize"], {"lock": _claim_lock(params["user"], params["project"], stage)}, using)
    sql = _claim_sql(using, stage, f"{'serve' if held_first else 'claim'}{'_durable' if durable else ''}", used)
    # A row another claimant just took is skipped rather than re-read, so a claim can come back
    # empty while free rows remain; one retry settles it (the queue is empty if it is still empty).
    for _ in range(2):
        task = _fetch(stage).first(sql, params, using)
        if task is not None:
            return task
    return None


def _serve_sqlite(params, stage, used, held_first, using):
    # The claim's transaction took SQLite's write lock as it began (BEGIN IMMEDIATE), so these
    # statements run as one: no other claim reads the queue between this one's read and its write.
    statements = _statements(using)
    if held_first:
        row = _execute(statements["held"], params, using)
        if row:
            return fetch(row[0], stage)
    _execute(statements["expire"], params, using)
    pick = _claim_statements(using, stage, used)["pick"]
    for _ in range(_SQLITE_CLAIM_ATTEMPTS):
        row = _execute(pick, params, using)
        if row is None:
            return None
        if _execute(statements["take_if_open"], {**params, "id": row[0]}, using):
            return fetch(row[0], stage)
    return None


def claimable(user, project_id, stage):
    """Return how many tasks of a stage this user would be served now: those they hold, and the free ones.

    Free is what a claim could lease them: open or with a lapsed lease, not skipped by them, and
    past the stage's own conditions (Stage 2 never serves the copy of an object they ranked or hold).
    """
    using = router.db_for_read(Task)
    now = connections[using].ops.adapt_datetimefield_value(_now())
    params = {"project": project_id, "stage": str(stage), "user": user.pk, "now": now}
    held = _execute(_statements(using)["held_count"], params, using)[0]
    return held + _execute(_claim_statements(using, str(stage), ())["free"], params, using)[0]


def hold(task_id, user, *, for_update=True, stage=None, related=None):
    """Return the task if the user holds a live lease on it; raise LeaseError otherwise.

    Call inside a transaction: on PostgreSQL the row stays locked until the write commits, so
    a submit and a lease expiry or a second submit cannot interleave. The task comes with the
    relations its stage is served with, or with `related` when given.
    """
    task = fetch(task_id, stage, for_update=for_update, related=related)
    if task is None:
        raise LeaseError(f"Task {task_id} does not exist.", code=ErrorCode.NOT_FOUND, status_code=404)
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
    using = router.db_for_read(Task)
    row = _execute(_statements(using)["replay"], {"id": task_id}, using)
    if row is None:
        return None, None
    stage, status, completed_by_id, submit_key, response = row
    if key and status == TaskStatus.DONE and completed_by_id == user.pk and submit_key == key:
        field = Task._meta.get_field("submit_response")
        return stage, field.from_db_value(response, None, connections[using])
    return stage, None


def complete(task, user, *, key="", response=None, seconds=0.0):
    """Mark a held task done, storing the response an identical resubmit will get."""
    rows.update(*completed(task, user, key=key, response=response, seconds=seconds))


COMPLETED_FIELDS = ("status", "completed_by", "completed_at", "submit_key", "submit_response", "seconds_spent",
                    "lease_expires_at")


def completed(task, user, *, key="", response=None, seconds=0.0):
    """Mark a held task done in memory; return (task, fields) for rows.update or rows.update_all to write."""
    task.status = TaskStatus.DONE
    task.completed_by = user
    task.completed_at = _now()
    task.submit_key = key or ""
    task.submit_response = response
    task.seconds_spent = float(seconds or 0.0)
    task.lease_expires_at = None
    return task, COMPLETED_FIELDS


def release(task_id, user, skip=False):
    """Give a held task back to the pool; with `skip`, it is not served to this user again for SKIP_SECONDS.

    Others still get it. A skip expires so that a project with a single annotator cannot lose
    tasks for good.
    """
    with transaction.atomic():
        task = hold(task_id, user)
        task.status = TaskStatus.OPEN
        task.lease_owner = None
        task.lease_expires_at = None
        task.save(update_fields=["status", "lease_owner", "lease_expires_at"])
        if skip:
            until = _now() + timedelta(seconds=settings.ENGINE["SKIP_SECONDS"])
            Skip.objects.update_or_create(task=task, user=user, defaults={"until": until})
    return task


def extend(task_id, user):
    """Renew the user's lease on a task for another lease period."""
    with transaction.atomic():
        task = hold(task_id, user)
        task.lease_expires_at = _now() + lease_duration()
        task.save(update_fields=["lease_expires_at"])
    return task


def create(project, stage, **fields):
    """Open a new task of a stage; call it from that stage's own open_* service, the one place its work is made."""
    return Task.objects.create(project=project, stage=stage, **fields)
