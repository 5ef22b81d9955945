"""`manage.py bench_claims` end to end, small: real gunicorn, real HTTP, the test's PostgreSQL database."""

import io
import json
import time

import pytest
from django.core.management import call_command
from django.db import connection

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
    pace = ["--rate", str(rate)] if rate else []
    started = time.monotonic()
    call_command("bench_claims", "--clients", "4", "--tasks", "40", "--workers", "1", "--threads", "4",
                 "--client-processes", "1", "--seconds", "120", *pace, stdout=out, stderr=io.StringIO())
    figures = json.loads(out.getvalue())
    assert figures["load"] == (f"paced at {rate:g} cycles/s" if rate else "closed loop")
    if rate:  # 40 cycles at 40 per second cannot take less than the schedule's 39 intervals
        assert figures["seconds"] >= 39 / rate and time.monotonic() - started >= 39 / rate
    assert figures["database"] == "postgresql" and figures["server"] == "gunicorn"
    assert figures["cycles"] == 40 and figures["tasks"] == 40
    assert figures["duplicates"] == 0 and figures["lost"] == 0 and figures["unfinished"] == 0
    assert figures["http_errors"] == {}
    assert figures["cycles_per_s"] > 0 and 0 < figures["cycle_ms"]["p50"] <= figures["cycle_ms"]["p99"]
    assert set(figures["cpu_ms_per_cycle"]) == {"server", "clients", "database", "machine"}
    assert Task.objects.filter(status=TaskStatus.DONE).count() == 40
