"""Drill: a Celery worker dies during candidate generation; the set completes on another, without duplicates."""

import base64
import json
import signal
import subprocess
import sys

import pytest
import redis
from django.conf import settings
from django.db import connection

from engine.candidates.models import Candidate, CandidateSet, SetStatus
from tests.drills.services import (
    ROOT,
    engine_env,
    redis_server,
    start,
    stop,
    suite_database_url,
    wait_for,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(240)]

# Redis hands a job held longer than this to another worker, even from a live one; it must outlast a
# job (seconds on this 2-core machine), and it is how long the drill waits for the redelivery.
VISIBILITY = 12
GENERATORS = ["geometric_lifting", "silhouette_retrieval"]  # the fast CPU generators: 4 candidates each


def _worker(env, name, log):
    return start([sys.executable, "-m", "celery", "-A", "engine", "worker", "-Q", "cpu", "-c", "1", "-n", f"{name}@%h",
                  "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING"], env, log)


def _jobs_in_hand(queue):
    """Return the generator names of the generation jobs delivered to a worker and not acknowledged."""
    names = []
    for raw in queue.hvals("unacked"):
        message = json.loads(raw)[0]
        args = json.loads(base64.b64decode(message["body"]))[0]
        if message["headers"]["task"].endswith("generate_candidates"):
            names.append(args[1])
    return names


def test_a_worker_killed_holding_a_generation_job_leaves_the_set_whole(project, obj, fast_suite, tmp_path):
    """Proves acks_late + idempotent generation: a job whose worker died is redelivered, and its redo adds nothing.

    Two workers serve `cpu`, as two hosts would. Worker A is armed to die (SIGKILL to its whole
    process group, the loss of a host) at the worst moment: right after its lifting job stored its
    candidates and before the message was acknowledged (failpoint candidates.generated). The
    message must come back from Redis after the visibility timeout, and worker B must run it
    again and close the set: READY, 8 candidates, each (generator, seed) once.
    Broken on purpose, it fails: with acks_late off the message is gone with A and the set
    never completes; with a seed that is not stable per (set, generator) B's redo adds 4 more.
    """
    if connection.vendor != "postgresql":
        pytest.skip("the workers share the test database, which needs PostgreSQL")
    project.n_candidates, project.generators = 8, GENERATORS
    project.save()
    with redis_server() as url:
        common = dict(MEDIA_ROOT=settings.MEDIA_ROOT, SHAPE_LIBRARY_DIR=settings.SHAPE_LIBRARY_DIR,
                      CELERY_VISIBILITY_TIMEOUT=VISIBILITY, CELERY_RESTORE_INTERVAL=1)
        env_b = engine_env(suite_database_url(), url, **common)
        env_a = {**env_b, "ENGINE_FAILPOINTS": "candidates.generated[geometric_lifting]=kill-group"}
        queue = redis.Redis.from_url(url)
        a = _worker(env_a, "a", tmp_path / "a.log")
        b = None
        try:
            # A alone runs both jobs, one at a time (prefetch 1): retrieval, then lifting, which kills it.
            # Lifting is the one to kill: its meshes carry no library shape id, so no later step could
            # hide a duplicate (finish drops repeated library shapes). B starts after, as the host left.
            launch = subprocess.run(
                [sys.executable, "-c", "import django; django.setup(); from engine.candidates.tasks import start; "
                 f"print(start({obj.pk}).pk)"], cwd=ROOT, env=env_b, capture_output=True, text=True, timeout=120)
            assert launch.returncode == 0, launch.stderr[-2000:]
            cset = CandidateSet.objects.get(pk=int(launch.stdout.split()[-1]))
            assert a.wait(timeout=120) == -signal.SIGKILL, (tmp_path / "a.log").read_text()[-2000:]
            held = _jobs_in_hand(queue)
            stored = Candidate.objects.filter(candidate_set=cset, generator__in=held).count()
            # Killed mid-set, holding a job whose candidates are stored but not acknowledged.
            assert held == ["geometric_lifting"] and stored == 4 and CandidateSet.objects.get(pk=cset.pk).status == SetStatus.GENERATING
            b = _worker(env_b, "b", tmp_path / "b.log")
            wait_for(lambda: CandidateSet.objects.get(pk=cset.pk).status != SetStatus.GENERATING, VISIBILITY + 90,
                     f"worker B to complete the set (log: {(tmp_path / 'b.log').read_text()[-1500:]})")
        finally:
            stop(a)
            stop(b)
    cset.refresh_from_db()
    assert cset.status == SetStatus.READY, cset.generator_report
    keys = list(Candidate.objects.filter(candidate_set=cset).values_list("generator", "seed"))
    assert len(keys) == 8 and len(set(keys)) == 8, sorted(keys)
    assert all(cset.generator_report[g]["count"] == 4 for g in GENERATORS), cset.generator_report
