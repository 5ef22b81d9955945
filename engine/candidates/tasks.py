"""Celery tasks of candidate generation (queue `cpu` or `gpu`, by generator).

They take ids, acknowledge late (a worker killed mid-task leaves the message to be
redelivered) and retry only transient database errors.
"""

import celery
from celery import shared_task
from django.db import InterfaceError, OperationalError, transaction

from engine.candidates import generation
from engine.candidates.models import SetStatus
from engine.core import background
from engine.intake.models import ObjectInstance, ObjectStatus

TRANSIENT = (OperationalError, InterfaceError)
# Redis serves a queue's priority 0 (a message's default) before 3, 6 and 9. Generation jobs go at 6,
# so a set's `finish_set`, the opening of new sets and the short jobs people wait on (point maps,
# initial poses) pass the generation backlog. In one FIFO list every `finish_set` waited behind all the
# generation queued after its set: the bench at 64 annotators (factor 20) finished no set in 240 s.
GENERATE_PRIORITY = 6


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
    status, jobs = generation.finish(set_id, reports, top_up)
    if jobs:
        launch(set_id, jobs, top_up=False)  # after finish's commit, so the top-up's own finish sees the report
    return status


@shared_task(bind=True, acks_late=True, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=5)
def start_generation(self, object_id):
    """Open a candidate set for an object and launch its generation chord."""
    return start(object_id).pk


def generate_for_selected(sender, *, object_ids, **kwargs):
    """Receiver of engine.intake.signals.objects_selected: generate candidates for each object once Stage 1 commits."""
    for object_id in object_ids:
        transaction.on_commit(lambda oid=object_id: background.send(start_generation, oid))


def start(object_id):
    """Open the object's candidate set for the current iteration and launch its generation; return the set."""
    cset, jobs = generation.prepare(object_id)
    if cset.status == SetStatus.GENERATING:
        launch(cset.pk, jobs)
    return cset


def launch(set_id, jobs, top_up=True):
    """Run [(generator, n, queue)] jobs as one chord, each on its generator's queue, gathered by `finish_set`."""
    header = [generate_candidates.si(set_id, name, n).set(queue=queue, priority=GENERATE_PRIORITY)
              for name, n, queue in jobs]
    if generate_candidates.app.conf.task_always_eager:
        # In-process (no Redis) the chord's steps run here, in order. Celery's eager chord joins its header
        # under a process-global flag that every eager task sets and restores, so two requests finishing
        # images at once (threads of one server) failed one of them: "Never call result.get() within a task!".
        reports = [signature.apply(throw=True).result for signature in header]
        finish_set.apply(args=(reports, set_id, top_up), throw=True)
    elif not header:
        finish_set.delay([], set_id, top_up)
    else:
        celery.chord(header)(finish_set.s(set_id, top_up))


def resume_lost_generation():
    """Send again the generation of every object left generating; return their ids.

    A start hook of the in-process queue (engine/core/background.py): jobs queued in a server
    that stopped are gone with it, and the objects they were for stay 'generating' until then.
    """
    lost = list(ObjectInstance.objects.filter(status=ObjectStatus.GENERATING).values_list("id", flat=True))
    for object_id in lost:
        background.send(start_generation, object_id)
    return lost
