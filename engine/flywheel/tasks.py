"""Celery tasks of the flywheel."""

from celery import shared_task

from engine.core.models import Iteration
from engine.flywheel.export import export_iteration


@shared_task(acks_late=True)
def export_iteration_task(iteration_id, out_dir):
    """Export an iteration's samples and pairs to out_dir; return the manifest."""
    return export_iteration(Iteration.objects.get(pk=iteration_id), out_dir)
