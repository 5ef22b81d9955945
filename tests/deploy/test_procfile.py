"""The Procfile run end to end by honcho: every process starts on a Redis of the test's own, serves, and stops on SIGTERM."""

import os
import signal
import sys
import uuid
from pathlib import Path

import psutil
import pytest
import requests
from django.db import connection
from rest_framework.authtoken.models import Token

from engine.leases.models import Task, TaskStatus
from engine.loadtest import services
from tests.drills.services import engine_env, redis_server, start, stop, suite_database_url, wait_for
from tests.engine.conftest import candidate_set, obj  # noqa: F401

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]


def test_honcho_runs_the_procfile_and_stops_it_cleanly(project, candidate_set, annotator, tmp_path):  # noqa: F811
    """Proves the Procfile is a working trial deployment, not only a well-formed file.

    `honcho start` runs the Procfile (web, cpu, gpu, beat, trainer) against the test database and a
    Redis of the test's own. Then: gunicorn answers /healthz, reports ready on /readyz (database,
    migrations, the set's Redis and media all checked), and an annotator claims the open Stage 2 task
    through it; both Celery workers answer a ping on their queues' broker; the RQ worker is
    registered on `trainer`; beat runs. On SIGTERM every process, and every child it forked (gunicorn
    and Celery pool workers, RQ's horse), exits within honcho's 5 s grace, so honcho never has to
    send SIGKILL. Fails if a command of the Procfile cannot start or serve (honcho stops them all
    when one exits) or if a process ignores SIGTERM. Cost: ~40 s, most of it five Django start-ups.
    """
    if connection.vendor != "postgresql":
        pytest.skip("the Procfile's processes share the test database, which needs PostgreSQL")
    token = Token.objects.create(user=annotator).key
    port = services.free_port()
    empty = tmp_path / "empty.env"  # honcho reads ./.env, which a developer's checkout may have
    empty.write_text("")
    with redis_server() as redis_url:
        env = engine_env(suite_database_url(), redis_url, media_root=tmp_path / "media", DEBUG=0,
                         SECRET_KEY="procfile-" + uuid.uuid4().hex, WEB_WORKERS=1, ENGINE_LOG_LEVEL="INFO",
                         PATH=f"{os.path.dirname(sys.executable)}:{os.environ.get('PATH', '')}")
        log = tmp_path / "honcho.log"
        honcho = start([sys.executable, "-m", "honcho", "start", "-e", str(empty), "-p", str(port)], env, log)
        try:
            url = f"http://127.0.0.1:{port}"

            def web_up():
                if honcho.poll() is not None:
                    pytest.fail(f"honcho exited {honcho.returncode}: {log.read_text(errors='replace')[-3000:]}")
                try:
                    return requests.get(f"{url}/healthz", timeout=2).status_code == 200
                except requests.RequestException:
                    return False
            wait_for(web_up, 120, "the Procfile's web process to answer /healthz")
            # What a load balancer asks before it sends traffic: every dependency of the set answers.
            ready = requests.get(f"{url}/readyz", timeout=10)
            assert ready.status_code == 200, ready.text[:2000]
            assert set(ready.json()["checks"]) == {"database", "migrations", "redis", "media"}, ready.text
            claimed = requests.post(f"{url}/api/tasks/claim/", json={"project": project.pk, "stage": "rank"},
                                    headers={"Authorization": f"Token {token}"}, timeout=30)
            assert claimed.status_code == 200, claimed.text[:1000]
            task = Task.objects.get(pk=claimed.json()["id"])
            assert task.status == TaskStatus.LEASED and task.lease_owner == annotator

            from celery import Celery

            # A bare app on the set's Redis: the engine's app would publish the ping on the suite's broker.
            probe = Celery(broker=redis_url)

            def pong():
                return {name.split("@")[0] for reply in probe.control.ping(timeout=1) for name in reply}
            wait_for(lambda: {"cpu", "gpu"} <= pong(), 120, "both Celery workers to answer a ping")
            import redis
            from rq import Worker

            wait_for(lambda: any("trainer" in w.queue_names() for w in Worker.all(
                connection=redis.Redis.from_url(redis_url))), 120, "the RQ worker to register on `trainer`")
            wait_for(lambda: "beat: Starting" in log.read_text(errors="replace"), 60, "Celery beat to start")
            processes = psutil.Process(honcho.pid).children(recursive=True)
            assert len(processes) >= 10, processes  # honcho's 5 runners, 5 shells or commands, their children
            # The trainer yields the CPU to the rest, by its nice value and its session's autogroup.
            trainer = [p for p in processes if "rqworker" in " ".join(p.cmdline())]
            lowered = min(19, os.getpriority(os.PRIO_PROCESS, 0) + 10)  # honcho inherits the suite's own
            assert trainer and all(p.nice() == lowered for p in trainer), [(p.cmdline(), p.nice()) for p in trainer]
            for p in trainer:
                group = Path(f"/proc/{p.pid}/autogroup")
                if group.exists():
                    assert group.read_text().split("nice")[1].strip() == "10", group.read_text()

            honcho.send_signal(signal.SIGTERM)
            assert honcho.wait(timeout=60) == 143, log.read_text(errors="replace")[-3000:]
        finally:
            _end(honcho)
    output = log.read_text(errors="replace")
    assert "sending SIGKILL" not in output, output[-3000:]
    left = [p for p in processes if _alive(p)]
    assert not left, left


def _alive(proc):
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _end(honcho):
    """Stop honcho and everything it started: it runs each process in a session of its own, out of its group."""
    if honcho.poll() is not None:
        return
    tree = psutil.Process(honcho.pid).children(recursive=True)
    honcho.send_signal(signal.SIGTERM)
    try:
        honcho.wait(timeout=20)
    finally:
        stop(honcho)
        for proc in tree:
            if _alive(proc):
                proc.kill()
