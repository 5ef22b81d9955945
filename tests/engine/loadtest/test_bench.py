"""`manage.py bench_claims` end to end, small: real gunicorn, real HTTP, the test's PostgreSQL database."""

import io
import json
import re
import time

from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection

from engine.core.models import Project
from engine.leases.models import Task, TaskStatus


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("rate", [None, 40.0], ids=["closed-loop", "paced"])
def test_bench_claims_drives_every_task_through_a_real_server(monkeypatch, settings, rate):
    if connection.vendor != "postgresql":
        pytest.skip("the bench's server must reach the same database: PostgreSQL")
    db = connection.settings_dict
    # The server is another process: point it at this test's database with the production settings.
    monkeypatch.setenv("DATABASE_URL", f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}")
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "engine.settings")
    monkeypatch.setenv("MEDIA_ROOT", str(settings.MEDIA_ROOT))
    monkeypatch.delenv("REDIS_URL", raising=False)
    out = io.StringIO()
    # The paced run keeps its project and warms up first (2 cycles per client, on tasks of their own);
    # the closed loop times from the first request and deletes its project, users and files included.
    options = ["--rate", str(rate), "--keep", "--warmup", "2"] if rate else ["--rate", "0", "--warmup", "0"]
    warm = 4 * 2 if rate else 0
    media_before = sorted(p.relative_to(settings.MEDIA_ROOT) for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file())
    started = time.monotonic()
    call_command("bench_claims", "--clients", "4", "--tasks", "40", "--workers", "1", "--threads", "4",
                 "--client-processes", "1", "--seconds", "120", *options, stdout=out, stderr=io.StringIO())
    figures = json.loads(out.getvalue())
    assert figures["load"] == (f"paced at {rate:g} cycles/s" if rate else "closed loop")
    if rate:  # 40 cycles at 40 per second cannot take less than the schedule's 39 intervals
        assert figures["seconds"] >= 39 / rate and time.monotonic() - started >= 39 / rate
    assert figures["database"] == "postgresql" and figures["server"] == "gunicorn"
    assert figures["server_worker_connections"] == 4 + 4  # one worker: every client, and its threads
    if rate:  # warm, every client holds a connection to the one worker
        assert figures["connections_per_worker"] == [4]
    assert figures["cycles"] == 40 and figures["tasks"] == 40 + warm and figures["warmup"]["cycles"] == warm
    assert figures["duplicates"] == 0 and figures["lost"] == 0 and figures["unfinished"] == 0
    assert figures["http_errors"] == {}
    assert figures["cycles_per_s"] > 0 and 0 < figures["cycle_ms"]["p50"] <= figures["cycle_ms"]["p99"]
    assert 0 < figures["submit_ms"]["p50"] <= figures["submit_ms"]["p99"] <= figures["cycle_ms"]["p99"]
    assert set(figures["cpu_ms_per_cycle"]) == {"server", "clients", "database", "machine"}
    assert all(figures["reference_loop_ms"][k] > 0 for k in ("before", "after"))
    assert "leases_task" in figures["database_maintenance"]["vacuumed"]
    assert figures["database_maintenance"]["autovacuum"] in ("on", "off")
    media_after = sorted(p.relative_to(settings.MEDIA_ROOT) for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file())
    if rate:
        assert Task.objects.filter(status=TaskStatus.DONE).count() == 40 + warm
        assert Project.objects.filter(name__startswith="bench-").count() == 1
        assert User.objects.filter(username__startswith="bench-").count() == 4
        assert len(media_after) == len(media_before) + 2  # the image and the mesh
    else:
        assert not Task.objects.exists() and not Project.objects.filter(name__startswith="bench-").exists()
        assert not User.objects.filter(username__startswith="bench-").exists()
        assert media_after == media_before


def media_files(settings):
    return sorted(p.relative_to(settings.MEDIA_ROOT) for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file())


@pytest.mark.django_db
def test_a_pool_keeps_its_image_and_mesh_until_it_is_removed(settings):
    from engine.loadtest import bench

    before = media_files(settings)
    project, tokens = bench.make_pool(3, 2)
    assert len(tokens) == 2 and Task.objects.filter(project=project).count() == 3
    assert len(media_files(settings)) == len(before) + 2  # the image and the mesh
    bench.remove_pool(project)
    assert media_files(settings) == before and not Project.objects.filter(pk=project.pk).exists()


@pytest.mark.django_db
def test_a_pool_that_fails_half_made_leaves_no_row_and_no_file(settings, monkeypatch):
    from django.db import DatabaseError

    from engine.core import roles
    from engine.loadtest import bench

    def grant(*args):
        raise DatabaseError("could not extend file: No space left on device")

    monkeypatch.setattr(roles, "grant", grant)  # after the image, the mesh and every task are written
    before = media_files(settings)
    with pytest.raises(DatabaseError, match="No space"):
        bench.make_pool(3, 2)
    assert not Project.objects.filter(name__startswith="bench-").exists() and not Task.objects.exists()
    assert not User.objects.filter(username__startswith="bench-").exists()
    assert media_files(settings) == before


def test_the_bench_client_keeps_connections_alive_and_reconnects_when_the_server_closed_one():
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from engine.loadtest.bench import _Connection

    seen = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append((self.path, self.client_address[1], body, self.headers["X-Test"]))
            answer = b'{"ok": %d}' % len(seen)
            self.send_response(200 if self.path != "/none" else 204)
            if self.path == "/close":
                self.send_header("Connection", "close")
            if self.path != "/none":
                self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            if self.path != "/none":
                self.wfile.write(answer)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        conn = _Connection("127.0.0.1", server.server_address[1], timeout=10)
        assert conn.post("/a", b"one", b"X-Test: 1\r\n") == (200, b'{"ok": 1}')
        assert conn.post("/a", b"two", b"X-Test: 2\r\n") == (200, b'{"ok": 2}')
        assert conn.post("/none", b"", b"X-Test: 3\r\n") == (204, b"")
        assert conn.post("/close", b"", b"X-Test: 4\r\n") == (200, b'{"ok": 4}')
        assert conn.post("/a", b"five", b"X-Test: 5\r\n") == (200, b'{"ok": 5}')  # a new connection
        conn.sock.shutdown(2)  # as if the server had dropped the idle connection
        assert conn.post("/a", b"six", b"X-Test: 6\r\n") == (200, b'{"ok": 6}')  # sent again on a new one
    finally:
        server.shutdown()
    ports = [port for _, port, _, _ in seen]
    assert ports[0] == ports[1] == ports[2] == ports[3] != ports[4] != ports[5]
    assert [b for _, _, b, _ in seen] == [b"one", b"two", b"", b"", b"five", b"six"]
    assert [h for _, _, _, h in seen] == ["1", "2", "3", "4", "5", "6"]


@pytest.mark.parametrize("option, value, message", [
    ("--rate", "-5", "--rate must be 0 (a closed loop) or a positive number"),
    ("--rate", "nan", "--rate must be 0 (a closed loop) or a positive number"),
    ("--warmup", "-1", "--warmup must be 0 or more"),
    ("--clients", "0", "must be at least 1"),
])
def test_bench_claims_refuses_bad_options_before_it_writes_anything(option, value, message):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("bench_claims", option, value, stdout=io.StringIO(), stderr=io.StringIO())


def test_each_gunicorn_worker_takes_its_share_of_the_clients_and_room_for_its_threads():
    from engine.loadtest.management.commands.bench_claims import worker_connections

    assert worker_connections(64, 2, 2) == 34
    assert worker_connections(65, 2, 2) == 35  # rounded up: every client finds a worker
    assert worker_connections(4, 1, 4) == 8
