"""Settings refuse an insecure production start; system checks carry stable ids."""

import os
import subprocess
import sys
from pathlib import Path

from django.core.checks import run_checks

ROOT = Path(__file__).resolve().parents[3]


def _import_settings(**env):
    clean = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG")}
    return subprocess.run([sys.executable, "-c", "import engine.settings"], cwd=ROOT, env={**clean, **env},
                          capture_output=True, text=True)


def test_default_secret_key_is_refused_when_debug_is_off():
    refused = _import_settings(DEBUG="0")
    assert refused.returncode != 0 and "SECRET_KEY" in refused.stderr
    assert _import_settings(DEBUG="0", SECRET_KEY="x" * 50).returncode == 0
    assert _import_settings(DEBUG="1").returncode == 0


def test_short_lease_is_a_system_check_error(settings):
    settings.ENGINE = {**settings.ENGINE, "LEASE_SECONDS": 5}
    ids = [m.id for m in run_checks()]
    assert "engine.E001" in ids


def test_an_idempotency_window_that_is_not_positive_is_a_system_check_error(settings):
    settings.ENGINE = {**settings.ENGINE, "IDEMPOTENCY_KEY_HOURS": 0.0}
    assert "engine.E002" in [m.id for m in run_checks()]


def test_a_readyz_wait_that_is_not_short_and_positive_is_a_system_check_error(settings):
    settings.ENGINE = {**settings.ENGINE, "READYZ_TIMEOUT_SECONDS": 0.0}
    assert "engine.E003" in [m.id for m in run_checks()]
    settings.ENGINE = {**settings.ENGINE, "READYZ_TIMEOUT_SECONDS": 2.0}
    assert "engine.E003" not in [m.id for m in run_checks()]
