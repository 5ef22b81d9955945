"""leases.E001: task claims on SQLite need BEGIN IMMEDIATE, which only the settings can give them."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.checks import run_checks
from django.db import connections

from engine.leases.checks import claim_database_errors

ROOT = Path(__file__).resolve().parents[3]
SQLITE = "django.db.backends.sqlite3"


@pytest.mark.parametrize("options", [{"timeout": 30, "transaction_mode": "IMMEDIATE"},
                                     {"transaction_mode": "immediate"}, {"transaction_mode": "EXCLUSIVE"}])
def test_sqlite_that_takes_the_write_lock_as_a_transaction_begins_is_clean(options):
    assert claim_database_errors("default", {"ENGINE": SQLITE, "OPTIONS": options}) == []


def test_postgresql_needs_no_transaction_mode():
    assert claim_database_errors("default", {"ENGINE": "django.db.backends.postgresql", "OPTIONS": {}}) == []


@pytest.mark.parametrize("options,shown", [({}, "unset"), ({"transaction_mode": None}, "unset"),
                                           ({"transaction_mode": "DEFERRED"}, "'DEFERRED'")])
def test_sqlite_without_begin_immediate_is_an_error_that_names_the_fix(options, shown):
    [error] = claim_database_errors("default", {"ENGINE": SQLITE, "OPTIONS": options})
    assert error.id == "leases.E001" and error.is_serious()
    assert f"DATABASES['default'] is SQLite with OPTIONS['transaction_mode'] {shown}" in error.msg
    assert "DATABASES['default']['OPTIONS']['transaction_mode'] = 'IMMEDIATE'" in error.hint


def test_the_check_reads_the_database_task_rows_are_written_to(monkeypatch):
    default = connections["default"]
    assert "leases.E001" not in [m.id for m in run_checks()]
    monkeypatch.setattr(default, "settings_dict", {**default.settings_dict, "ENGINE": SQLITE, "OPTIONS": {}})
    assert "leases.E001" in [m.id for m in run_checks()]


def test_the_embedded_default_passes_the_check(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(ENGINE_SQLITE_PATH=str(tmp_path / "embedded.sqlite3"), MEDIA_ROOT=str(tmp_path / "media"))
    done = subprocess.run([sys.executable, "manage.py", "check", "--fail-level", "ERROR"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "leases.E001" not in done.stdout + done.stderr
