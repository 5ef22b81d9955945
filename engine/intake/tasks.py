"""Celery tasks of intake: the point map of an image without depth, and the curriculum's periodic refresh.

They take ids, acknowledge late and retry only transient database errors.
"""

import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError

TRANSIENT = (OperationalError, InterfaceError)
logger = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, autoretry_for=TRANSIENT, retry_backoff=True,
             max_retries=5)
def estimate_point_map(self, image_id):
    """Give an image without depth the registered estimator's point map (queue `gpu` for a heavy model); idempotent."""
    from engine.intake import point_maps

    result = point_maps.estimate(image_id)
    logger.info("point map: image=%s result=%s", image_id, result)
    return result


@shared_task(acks_late=True, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=5)
def refresh_curricula():
    """Re-tag the waiting Stage 2/3 tasks of every project whose curriculum shares moved; return {project: changed}."""
    from engine.intake import priorities

    return priorities.refresh_all()
