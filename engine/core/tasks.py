"""Celery tasks of the core: the periodic purge of kept Idempotency-Key answers (settings.CELERY_BEAT_SCHEDULE)."""

import logging

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from engine.core import idempotency

TRANSIENT = (OperationalError, InterfaceError)
logger = logging.getLogger(__name__)


@shared_task(acks_late=True, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=5)
def purge_idempotency_keys(older_than_hours=None):
    """Delete the kept Idempotency-Key answers past ENGINE["IDEMPOTENCY_KEY_HOURS"]; return how many."""
    # Idempotent: a repeat (a redelivered message, two beats) finds less or nothing to delete.
    hours = settings.ENGINE["IDEMPOTENCY_KEY_HOURS"] if older_than_hours is None else older_than_hours
    deleted = idempotency.purge(hours)
    logger.info("idempotency keys purged: deleted=%d older_than_hours=%g", deleted, hours)
    return deleted
