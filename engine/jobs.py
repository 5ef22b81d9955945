"""The RQ queue (django-rq) that runs long trainer jobs, one per worker process.

Worker: `python manage.py rqworker trainer`. A finished or crashed training run ends its
process, so it gives its (GPU) memory back.
"""

TRAINER_QUEUE = "trainer"
