"""GET /healthz and /readyz against the suite's real PostgreSQL, Redis and media storage, and with each broken."""

import socket
import time
from pathlib import Path

import pytest
from django.db import connection, connections
from django.db.migrations.recorder import MigrationRecorder
from django.test import Client

from engine.core import health
from engine.loadtest.services import free_port

# A load balancer probes a web host by its address, which ALLOWED_HOSTS need not list.
PROBE = {"HTTP_HOST": "10.20.30.40:8000"}


def _readyz():
    start = time.perf_counter()
    response = Client().get("/readyz", **PROBE)
    print(f"/readyz answered {response.status_code} in {(time.perf_counter() - start) * 1000:.0f} ms")
    return response, response.json()


def test_healthz_answers_from_any_host_without_a_database_or_a_session():
    # No `db` fixture: a query would fail this test (pytest-django blocks the database).
    response = Client().get("/healthz", **PROBE)
    assert response.status_code == 200 and response.json() == {"status": "alive"}
    assert response["Cache-Control"] == "no-store" and "Set-Cookie" not in response and "X-Request-ID" in response
    assert Client().get("/healthz/", **PROBE).status_code == 200


def test_readyz_is_200_when_the_database_migrations_redis_and_media_answer(db, settings):
    assert settings.REDIS_URL, "the suite runs with REDIS_URL set (README: make test)"
    response, body = _readyz()
    assert response.status_code == 200, body
    assert body["status"] == "ready" and "failed" not in body
    assert set(body["checks"]) == {"database", "migrations", "redis", "media"}
    assert all(check["ok"] and check["ms"] >= 0 for check in body["checks"].values()), body
    probes = Path(settings.MEDIA_ROOT) / health.MEDIA_PROBE_DIR
    assert not list(probes.iterdir()), "the media probe deletes what it wrote"


def test_without_redis_url_the_embedded_setup_is_ready_without_asking_redis(db, settings):
    settings.REDIS_URL = ""
    response, body = _readyz()
    assert response.status_code == 200, body
    assert set(body["checks"]) == {"database", "migrations", "media"}


def test_redis_on_a_closed_port_is_503_naming_redis(db, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    response, body = _readyz()
    assert response.status_code == 503
    assert body["status"] == "unavailable" and body["failed"] == ["redis"]
    assert "ConnectionError" in body["checks"]["redis"]["error"], body
    assert body["checks"]["database"]["ok"] and body["checks"]["media"]["ok"]


def test_a_redis_that_accepts_but_never_answers_is_503_within_the_timeout(db, settings):
    settings.ENGINE = {**settings.ENGINE, "READYZ_TIMEOUT_SECONDS": 0.5}
    with socket.socket() as silent:  # listens (the kernel completes the handshake) and never reads
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        settings.REDIS_URL = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        response, body = _readyz()
    assert response.status_code == 503 and body["failed"] == ["redis"], body
    assert "within 0.5 s" in body["checks"]["redis"]["error"] or "Timeout" in body["checks"]["redis"]["error"]


def test_a_database_that_refuses_connections_is_503_naming_database_and_migrations(db, monkeypatch):
    # The probe opens a connection of its own from these settings; the test's own connection is untouched.
    dead = {**connections.settings["default"], "PORT": str(free_port())}
    if dead["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("a closed port means PostgreSQL")
    monkeypatch.setitem(connections.settings, "default", dead)
    response, body = _readyz()
    assert response.status_code == 503 and body["failed"] == ["database", "migrations"], body
    assert "OperationalError" in body["checks"]["database"]["error"]
    assert body["checks"]["migrations"]["error"] == "not checked: the database did not answer"


@pytest.mark.django_db(transaction=True)
def test_an_unapplied_migration_is_503_naming_it_and_the_fix():
    recorder = MigrationRecorder(connection)
    app, name = max(key for key in recorder.applied_migrations() if key[0] == "core")
    recorder.record_unapplied(app, name)
    try:
        response, body = _readyz()
    finally:
        recorder.record_applied(app, name)
    assert response.status_code == 503 and body["failed"] == ["migrations"], body
    assert body["checks"]["migrations"]["error"] == f"1 unapplied: {app}.{name}; run manage.py migrate"
    assert _readyz()[0].status_code == 200


def test_media_storage_that_cannot_be_written_is_503_naming_media(db, settings, tmp_path):
    not_a_folder = tmp_path / "media-is-a-file"
    not_a_folder.write_text("")  # root writes through permissions; nobody creates a file inside a file
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "engine.core.storage.MediaStorage", "OPTIONS": {"location": str(not_a_folder)}}}
    response, body = _readyz()
    assert response.status_code == 503 and body["failed"] == ["media"], body
    assert "Error" in body["checks"]["media"]["error"]


def test_only_get_and_head_are_answered(db):
    assert Client().post("/readyz", **PROBE).status_code == 405
    assert Client().head("/healthz", **PROBE).status_code == 200
