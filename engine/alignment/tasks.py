"""Celery tasks of Stage 3 (queue `cpu`): they take ids and retry only transient database errors."""

from celery import shared_task
from django.db import InterfaceError, OperationalError

from engine.alignment import fitting


@shared_task(bind=True, acks_late=True, autoretry_for=(OperationalError, InterfaceError), retry_backoff=True,
             max_retries=5)
def fit_initial_pose(self, alignment_id):
    """Fit the pose an alignment task starts from (engine/alignment/fitting.py); idempotent."""
    pose = fitting.fit(alignment_id)
    return {"alignment": alignment_id, "source": pose["source"], "iou": pose["iou"]} if pose else None
