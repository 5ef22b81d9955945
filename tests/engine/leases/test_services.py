"""Leases: claim order, expiry, foreign and late submits, idempotent resubmits, release."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from engine.core.errors import LeaseError
from engine.leases import services as leases
from engine.leases.models import Stage, Task, TaskStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def align_tasks(project):
    return [leases.create(project, Stage.ALIGN, priority=0) for _ in range(3)]


def test_claim_serves_in_order_and_marks_the_lease(project, annotator, align_tasks):
    task = leases.claim(annotator, project.pk, Stage.ALIGN)
    assert task.pk == align_tasks[0].pk
    assert task.status == TaskStatus.LEASED and task.lease_owner == annotator and task.claims == 1
    assert task.lease_expires_at > timezone.now()


def test_empty_queue_returns_none(project, annotator):
    assert leases.claim(annotator, project.pk, Stage.ALIGN) is None


def test_expired_lease_returns_to_the_pool(project, annotator, annotator2, align_tasks, monkeypatch):
    first = leases.claim(annotator, project.pk, Stage.ALIGN)
    later = timezone.now() + leases.lease_duration() + timedelta(seconds=1)
    monkeypatch.setattr(leases, "_now", lambda: later)
    # The expired task is served again, first in line, to someone else.
    again = leases.claim(annotator2, project.pk, Stage.ALIGN)
    assert again.pk == first.pk and again.lease_owner == annotator2 and again.claims == 2


def test_a_claim_serves_lapsed_and_open_tasks_in_queue_order_and_opens_the_other_lapsed(
        project, annotator, annotator2, align_tasks, monkeypatch):
    leases.claim(annotator, project.pk, Stage.ALIGN)
    leases.claim(annotator, project.pk, Stage.ALIGN)  # it holds align_tasks[0] and [1]
    Task.objects.filter(pk=align_tasks[2].pk).update(priority=5)  # the open task now comes first
    later = timezone.now() + leases.lease_duration() + timedelta(seconds=1)
    monkeypatch.setattr(leases, "_now", lambda: later)
    # Both leases lapsed, but the open task is ahead of them in serving order: it is served, and
    # the same statement opens the lapsed ones for the next claims.
    served = leases.claim(annotator2, project.pk, Stage.ALIGN)
    assert served.pk == align_tasks[2].pk and served.lease_owner == annotator2 and served.claims == 1
    assert served.status == TaskStatus.LEASED and served.lease_expires_at > later
    assert set(Task.objects.filter(pk__in=[align_tasks[0].pk, align_tasks[1].pk]).values_list("status", flat=True)) \
        == {TaskStatus.OPEN}
    again = leases.claim(annotator2, project.pk, Stage.ALIGN)
    assert again.pk == align_tasks[0].pk and again.claims == 2


def test_a_claim_commits_without_waiting_for_a_disk_flush_unless_in_a_callers_transaction(
        project, annotator, align_tasks):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("synchronous_commit is PostgreSQL's")
    sent = []

    def record(execute, sql, params, many, context):
        sent.append((sql, params))
        return execute(sql, params, many, context)

    # This test runs inside a transaction, as a caller's: the claim leaves its durability alone.
    with connection.execute_wrapper(record):
        assert leases.claim(annotator, project.pk, Stage.ALIGN) is not None
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"
        durable_sql, params = sent[-1]
        assert "synchronous_commit" not in durable_sql
        # The statement a claim sends on its own (autocommit) sets it off for its transaction alone.
        cursor.execute(leases._claim_sql(connection.alias, Stage.ALIGN, "claim"), params)
        assert cursor.fetchone()[0] == align_tasks[1].pk  # it took the next task
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "off"


def test_submit_on_expired_lease_is_refused(project, annotator, align_tasks, monkeypatch):
    task = leases.claim(annotator, project.pk, Stage.ALIGN)
    later = timezone.now() + leases.lease_duration() + timedelta(seconds=1)
    monkeypatch.setattr(leases, "_now", lambda: later)
    with pytest.raises(LeaseError) as info:
        leases.hold(task.pk, annotator)
    assert info.value.code == "lease_expired"


def test_foreign_submit_is_refused(project, annotator, annotator2, align_tasks):
    task = leases.claim(annotator, project.pk, Stage.ALIGN)
    with pytest.raises(LeaseError) as info:
        leases.hold(task.pk, annotator2)
    assert info.value.code == "lease_not_held" and info.value.status_code == 403


def test_complete_then_replay_with_same_key(project, annotator, align_tasks):
    task = leases.claim(annotator, project.pk, Stage.ALIGN)
    leases.complete(task, annotator, key="k1", response={"ok": 1})
    assert leases.replay(task.pk, annotator, "k1") == (Stage.ALIGN, {"ok": 1})
    assert leases.replay(task.pk, annotator, "other") == (Stage.ALIGN, None)
    assert leases.replay(10**9, annotator, "k1") == (None, None)
    with pytest.raises(LeaseError) as info:
        leases.hold(task.pk, annotator)
    assert info.value.code == "task_closed"


def test_release_and_extend(project, annotator, align_tasks):
    task = leases.claim(annotator, project.pk, Stage.ALIGN)
    before = task.lease_expires_at
    assert leases.extend(task.pk, annotator).lease_expires_at >= before
    leases.release(task.pk, annotator)
    assert Task.objects.get(pk=task.pk).status == TaskStatus.OPEN
    assert leases.claim(annotator, project.pk, Stage.ALIGN).pk == task.pk


def test_held_task_comes_back_before_a_new_claim(api, project, annotator, image):
    leases.create(project, Stage.SELECT, image=image)
    client = api(annotator)
    first = client.post("/api/tasks/claim/", {"project": project.pk, "stage": "select"}, format="json").json()
    again = client.post("/api/tasks/claim/", {"project": project.pk, "stage": "select"}, format="json").json()
    assert again["id"] == first["id"]
    assert Task.objects.filter(status=TaskStatus.LEASED).count() == 1


def test_a_skipped_task_goes_to_others_and_comes_back_after_a_while(project, annotator, annotator2, align_tasks,
                                                                    monkeypatch):
    task = leases.claim(annotator, project.pk, Stage.ALIGN)
    leases.release(task.pk, annotator, skip=True)
    assert leases.serve(annotator, project.pk, Stage.ALIGN).pk == align_tasks[1].pk  # not the skipped one
    assert leases.serve(annotator2, project.pk, Stage.ALIGN).pk == task.pk  # someone else gets it
    leases.release(task.pk, annotator2)
    later = timezone.now() + timedelta(seconds=settings.ENGINE["SKIP_SECONDS"] + 1)
    monkeypatch.setattr(leases, "_now", lambda: later)
    # A day later the skip has lapsed (and the first claim's lease too): it is served to them again.
    assert leases.serve(annotator, project.pk, Stage.ALIGN).pk == task.pk


def test_release_refuses_a_malformed_skip(api, project, annotator, align_tasks):
    task = leases.claim(annotator, project.pk, Stage.ALIGN)
    response = api(annotator).post(f"/api/tasks/{task.pk}/release/", {"skip": "perhaps"}, format="json")
    assert response.status_code == 400 and "skip" in response.json()["fields"]
    assert Task.objects.get(pk=task.pk).status == TaskStatus.LEASED  # nothing changed
    response = api(annotator).post(f"/api/tasks/{task.pk}/release/", {"skip": True}, format="json")
    assert response.status_code == 200 and response.json()["skipped"] is True
