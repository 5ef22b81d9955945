"""The Celery application: candidate generation, mesh conversion, exports, evaluation.

Workers: `celery -A engine worker -Q cpu,gpu` (a GPU host serves `gpu`, CPU hosts `cpu`).
"""

import logging
import os

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "engine.settings")

app = Celery("engine")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def warm_up_generators(**kwargs):
    """Load the model suite's models and caches once per worker process, not on its first object."""
    from django.conf import settings

    if not settings.ENGINE["WARM_UP_WORKERS"]:
        return
    from engine.candidates.generation import suite
    from model_suite.registry import warm_up

    seconds = warm_up(list(suite().values()))
    logging.getLogger("engine.candidates").info("generators warmed up: %s", seconds)
