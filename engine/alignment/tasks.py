"""Celery tasks of Stage 3 (queue `cpu`): they take ids and retry only transient database errors."""

from celery import shared_task
from django.db import InterfaceError, OperationalError, transaction

from engine.alignment import fitting
from engine.alignment.models import Alignment
from engine.core import background


@shared_task(bind=True, acks_late=True, autoretry_for=(OperationalError, InterfaceError), retry_backoff=True,
             max_retries=5)
def fit_initial_pose(self, alignment_id):
    """Fit the pose an alignment task starts from (engine/alignment/fitting.py); idempotent."""
    pose = fitting.fit(alignment_id)
    return {"alignment": alignment_id, "source": pose["source"], "iou": pose["iou"]} if pose else None


def request(alignment):
    """Fit the alignment's starting pose once the transaction that opened it commits."""
    transaction.on_commit(lambda: background.send(fit_initial_pose, alignment.pk), robust=True)


def resume_unfitted():
    """Send the fits an ended process left undone: open alignment tasks with no starting pose yet."""
    from engine.leases.models import TaskStatus

    waiting = Alignment.objects.filter(initial_pose__isnull=True, aligned_at__isnull=True).exclude(
        task__status=TaskStatus.DONE).values_list("pk", flat=True)
    for alignment_id in waiting:
        background.send(fit_initial_pose, alignment_id)
