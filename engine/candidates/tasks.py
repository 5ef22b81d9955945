"""Celery tasks of candidate generation (queue `cpu` or `gpu`, by generator).

They take ids, acknowledge late (a worker killed mid-task leaves the message to be
redelivered) and retry only transient database errors.
"""

from celery import shared_task
from django.db import InterfaceError, OperationalError

from engine.candidates import generation

TRANSIENT = (OperationalError, InterfaceError)


@shared_task(
    bind=True, acks_late=True, reject_on_worker_lost=True, autoretry_for=TRANSIENT,
    retry_backoff=True, max_retries=5,
)
def generate_candidates(self, set_id, generator_name, n):
    """Run one generator for a candidate set; idempotent per (set, generator, seed)."""
    return generation.generate(set_id, generator_name, n)


@shared_task(bind=True, acks_late=True, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=5)
def finish_set(self, reports, set_id, top_up=True):
    """Gather the generator reports of a set, top a short set up once, and open its Stage 2 tasks."""
    return generation.finish(set_id, reports, top_up)


@shared_task(bind=True, acks_late=True, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=5)
def start_generation(self, object_id):
    """Open a candidate set for an object and launch its generation chord."""
    return generation.start(object_id).pk
