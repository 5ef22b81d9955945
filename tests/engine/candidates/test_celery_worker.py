"""Generation on a real Celery worker over the Redis CI has: kill it mid-set, start another, lose nothing."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection

from engine.candidates.models import Candidate, CandidateSet, SetStatus

ROOT = Path(__file__).resolve().parents[3]


def _redis_url():
    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.skip("REDIS_URL is not set (CI runs this against its Redis)")
    try:
        redis.Redis.from_url(url).ping()
    except redis.RedisError:
        pytest.skip(f"no Redis answers at {url}")
    return url


def _worker(env, name):
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "engine", "worker", "-Q", "cpu", "-c", "1", "-n", f"{name}@%h",
         "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING"],
        cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def _kill(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_set_loses_and_duplicates_nothing(project, obj, suite_settings):
    if connection.vendor != "postgresql":
        pytest.skip("the worker shares the test database, which needs PostgreSQL")
    url = _redis_url()
    db = settings.DATABASES["default"]
    queue_db = f"{url.rsplit('/', 1)[0]}/9"  # a Redis database of its own, emptied first
    redis.Redis.from_url(queue_db).flushdb()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "engine.settings", "REDIS_URL": queue_db,
           "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
           "MEDIA_ROOT": settings.MEDIA_ROOT, "SHAPE_LIBRARY_DIR": str(settings.SHAPE_LIBRARY_DIR),
           "CELERY_VISIBILITY_TIMEOUT": "4", "CELERY_RESTORE_INTERVAL": "1", "ENGINE_WARM_UP_WORKERS": "0",
           "PYTHONPATH": str(ROOT)}
    # The fast CPU generators keep this test short; the others run the same task code.
    project.n_candidates = 8
    project.generators = ["geometric_lifting", "silhouette_retrieval"]
    project.save()
    workers = [_worker(env, "first")]
    try:
        # Launch the chord from another process too, so that it goes to this test's Redis database.
        launch = subprocess.run(
            [sys.executable, "-c", "import django; django.setup(); from engine.candidates.generation import start; "
             f"print(start({obj.pk}).pk)"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
        )
        assert launch.returncode == 0, launch.stderr[-2000:]
        cset = CandidateSet.objects.get(pk=int(launch.stdout.strip().splitlines()[-1]))
        deadline = time.monotonic() + 300
        while not Candidate.objects.filter(candidate_set=cset).exists():
            assert time.monotonic() < deadline, "the first worker produced nothing"
            assert workers[0].poll() is None, workers[0].stdout.read()
            time.sleep(0.2)
        # Freeze the worker and kill it only while it holds a job it has not acknowledged: between two
        # jobs nothing is in hand, and a kill there would test nothing. Not while it holds the lock
        # of the sweep that restores unacknowledged jobs, either: that lock outlives a killed holder
        # (unacked_mutex_expire), and no worker could restore anything until it expired.
        queue = redis.Redis.from_url(queue_db)
        while True:
            assert time.monotonic() < deadline, "never caught the first worker holding a job"
            os.killpg(workers[0].pid, signal.SIGSTOP)
            if (queue.hlen("unacked") and not queue.exists("unacked_mutex")
                    and CandidateSet.objects.get(pk=cset.pk).status == SetStatus.GENERATING):
                break
            os.killpg(workers[0].pid, signal.SIGCONT)
            time.sleep(0.05)
        _kill(workers[0])
        # Killed mid-set: the job it had in hand is still unacknowledged in Redis, to be redelivered.
        assert queue.hlen("unacked") >= 1
        workers.append(_worker(env, "second"))
        while CandidateSet.objects.get(pk=cset.pk).status == SetStatus.GENERATING:
            assert time.monotonic() < deadline, "the set never completed after the restart"
            assert workers[1].poll() is None, workers[1].stdout.read()
            time.sleep(0.5)
    finally:
        for worker in workers:
            _kill(worker)
    cset.refresh_from_db()
    assert cset.status == SetStatus.READY, cset.generator_report
    keys = list(Candidate.objects.filter(candidate_set=cset).values_list("generator", "seed"))
    assert len(keys) == 8 and len(set(keys)) == 8
