"""Generation jobs queue behind a set's last step: Redis serves a queue's default priority before theirs."""

import os
import uuid

import pytest
from kombu import Connection

from engine.candidates import tasks


def test_a_finish_set_sent_after_generation_jobs_is_served_before_them(monkeypatch):
    url = os.environ.get("REDIS_URL")
    if not url or not url.startswith("redis"):
        pytest.skip("needs the test Redis (REDIS_URL)")
    from engine.celery import app

    monkeypatch.setitem(app.conf, "task_always_eager", False)
    queue = f"test-priority-{uuid.uuid4().hex[:8]}"
    with Connection(url) as conn:
        consumer = conn.SimpleQueue(queue)  # declares the queue and its binding before anything is sent
        try:
            for set_id in (1, 2):  # what `launch` sends for a set, on a queue of the test's own
                tasks.generate_candidates.si(set_id, "geometric_lifting", 2).set(
                    queue=queue, priority=tasks.GENERATE_PRIORITY).apply_async(connection=conn)
            tasks.finish_set.s([], 1).set(queue=queue).apply_async(connection=conn)
            order = []
            for _ in range(3):
                message = consumer.get(timeout=5)
                order.append(message.headers["task"].rsplit(".", 1)[-1])
                message.ack()
        finally:
            consumer.queue.delete()
            consumer.close()
    assert order == ["finish_set", "generate_candidates", "generate_candidates"]
