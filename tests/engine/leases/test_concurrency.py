"""32 concurrent claimants on PostgreSQL (SKIP LOCKED) and on the embedded SQLite (conditional UPDATE).

Each claims and submits through what the API calls (leases.serve, alignment.services.submit), so
a task handed to two claimants fails the second submit's lease check as well as the count.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connections

from tests.engine.leases.claimants import run

THREADS = 32
TASKS = 200
ROOT = Path(__file__).resolve().parents[3]


def _assert_clean(outcome):
    assert outcome["errors"] == []
    assert outcome["claimed"] == outcome["tasks"], "some tasks were never claimed"
    assert outcome["duplicates"] == 0
    assert outcome["done"] == outcome["tasks"], "submissions were lost"
    assert outcome["wrong_owner"] == 0
    assert outcome["samples"] == outcome["objects_done"] == outcome["tasks"], "a submit's writes were lost or doubled"


@pytest.mark.django_db(transaction=True)
def test_postgresql_claims_never_duplicate_or_lose():
    if connections["default"].vendor != "postgresql":
        pytest.skip("DATABASE_URL is not PostgreSQL (CI runs this on PostgreSQL)")
    outcome = run(THREADS, TASKS)
    assert outcome["vendor"] == "postgresql"
    _assert_clean(outcome)


def test_embedded_sqlite_claims_never_duplicate_or_lose(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(ENGINE_SQLITE_PATH=str(tmp_path / "embedded.sqlite3"), MEDIA_ROOT=str(tmp_path / "media"),
               DJANGO_SETTINGS_MODULE="engine.settings", PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-m", "tests.engine.leases.claimants", str(THREADS), str(TASKS)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["vendor"] == "sqlite"
    _assert_clean(outcome)
