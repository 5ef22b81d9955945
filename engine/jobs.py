"""Long jobs on the RQ `trainer` queue (django-rq), one per worker process.

Worker: `python manage.py rqworker trainer`. A finished or crashed training run ends its
process, so it gives its (GPU) memory back. Without Redis (the embedded demo) a job runs
in the calling process, synchronously.
"""

from django.conf import settings

TRAINER_QUEUE = "trainer"


def enqueue(func, *args, timeout=24 * 3600, **kwargs):
    """Queue func(*args, **kwargs) on the trainer queue; return the RQ job, or the result in embedded mode."""
    if not settings.REDIS_URL:
        return func(*args, **kwargs)
    import django_rq

    return django_rq.get_queue(TRAINER_QUEUE).enqueue(func, *args, job_timeout=timeout, **kwargs)
