"""`manage.py rqworker` runs the engine's worker class, whose command thread stops within about a second."""
import time

import redis
from django.conf import settings
from django_rq.workers import get_worker_class

from engine.flywheel.rqworker import PUBSUB_READ_SECONDS, TrainerWorker


def test_rqworker_uses_the_engine_worker_class():
    assert get_worker_class() is TrainerWorker


def test_the_command_thread_stops_within_its_read_slice():
    """Unsubscribe, then stop, as rq's warm shutdown does: with rq's 60 s reads this could wait a minute."""
    connection = redis.Redis.from_url(settings.RQ_QUEUES["trainer"]["URL"])
    worker = TrainerWorker(["trainer-rqworker-test"], connection=connection)
    worker.subscribe()
    try:
        time.sleep(0.2)                          # the thread is inside a read
        worker.pubsub.unsubscribe()
        time.sleep(0.2)                          # its reply is read before the flag is cleared: the slow case
        started = time.monotonic()
        worker.pubsub_thread.stop()
        worker.pubsub_thread.join(timeout=10)
        assert not worker.pubsub_thread.is_alive()
        assert time.monotonic() - started < PUBSUB_READ_SECONDS + 2
    finally:
        worker.pubsub_thread.stop(timeout=0)
        worker.pubsub.close()
