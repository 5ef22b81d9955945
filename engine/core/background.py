"""Celery jobs sent from a request, which the request does not wait for, in the embedded mode too.

With a broker (REDIS_URL) `send` is `apply_async`: a worker runs the job. Without one (the
embedded demo) Celery runs a job inside the call that sends it, so finishing a Stage 1 image
waited 2–11 s for its candidates. Here such a job goes onto a queue of this process instead,
served by ENGINE_BACKGROUND_THREADS daemon threads (default 1: candidate generation already
uses every core, and one thread keeps SQLite's writers few), and the request answers at once.
0 threads runs the job in the call, as Celery's eager mode does (the tests' default).

Why threads of the server and not a second process: the embedded mode promises one command
and no services. What that costs, and how it is covered:
- a job still queued when the process ends is lost with it. Apps register `on_start` hooks
  that find such work from the database (candidates: objects left generating) and send it
  again; the server runs them once it starts (`start`: engine/wsgi.py, the demo's server);
- jobs take ids and are idempotent, so a job sent twice (a hook racing a live job) wastes
  time but writes nothing twice;
- a failing job is logged and the queue goes on; each job closes its database connections.
"""

import logging
import queue
import threading

from django.conf import settings
from django.db import connections

log = logging.getLogger("engine.background")

_jobs = queue.SimpleQueue()
_lock = threading.Condition()
_threads = []
_pending = 0  # jobs sent and not yet finished
_on_start = []


def in_process():
    """Return True when jobs run in this process (no broker: Celery's eager mode)."""
    from engine.celery import app

    return bool(app.conf.task_always_eager)


def thread_count():
    return int(settings.ENGINE.get("BACKGROUND_THREADS", 1))


def send(task, *args):
    """Send the Celery task `task(*args)` without waiting for it; return "worker", "background" or "done"."""
    if not in_process() or thread_count() <= 0:
        task.delay(*args)  # to a worker, or (eager, no threads) run here and now
        return "worker" if not in_process() else "done"
    _enqueue(task, args)
    return "background"


def _enqueue(task, args):
    global _pending
    with _lock:
        _pending += 1
        _threads[:] = [t for t in _threads if t.is_alive()]
        while len(_threads) < thread_count():
            thread = threading.Thread(target=_work, name=f"engine-background-{len(_threads)}", daemon=True)
            thread.start()
            _threads.append(thread)
    _jobs.put((task, args))


def _work():
    global _pending
    while True:
        task, args = _jobs.get()
        try:
            task.apply(args, throw=True)
        except Exception:  # one failed job must not stop the queue; the job's own records say what is left
            log.exception("background job %s%s failed", task.name, tuple(args))
        finally:
            connections.close_all()  # this thread's connections
            with _lock:
                _pending -= 1
                _lock.notify_all()


def pending():
    """Return how many jobs of this process are queued or running."""
    with _lock:
        return _pending


def wait(timeout=None):
    """Block until every job sent so far has finished; return False if `timeout` seconds passed first."""
    with _lock:
        return _lock.wait_for(lambda: _pending == 0, timeout)


def on_start(hook):
    """Register `hook()`, run by `start` on the queue: it sends again the jobs an ended process left undone."""
    if hook not in _on_start:
        _on_start.append(hook)
    return hook


class _Hook:
    """A registered start hook in the shape of a Celery task, so the queue runs it like a job."""

    def __init__(self, hook):
        self.hook, self.name = hook, f"{hook.__module__}.{hook.__qualname__}"

    def apply(self, args, throw=True):
        self.hook(*args)


def start():
    """Run the start hooks on the background queue, when jobs run in this process (a server calls it once)."""
    if not in_process() or thread_count() <= 0:
        return False
    for hook in _on_start:
        _enqueue(_Hook(hook), ())
    return True
