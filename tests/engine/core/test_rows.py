"""engine.core.rows against the ORM, on PostgreSQL (in-process) and on the embedded SQLite (subprocess)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import signals

from engine.alignment.models import Alignment
from engine.intake.models import ObjectInstance
from engine.leases.models import Task
from engine.records.models import TrainingSample
from tests.engine.core.rows_checks import run

ROOT = Path(__file__).resolve().parents[3]


def _assert_all_true(outcome):
    assert outcome["fetch_queries"] == 1, outcome
    for group in ("fetch_matches_select_related", "types", "update", "insert"):
        failed = {k: v for k, v in outcome[group].items() if v is not True and k != "rowcount"}
        assert not failed, (group, outcome[group])
    assert outcome["update"]["rowcount"] == 1
    for check in ("null_forward_is_none", "missing_reverse_raises", "nulls_cost_no_query", "unknown_pk_is_none"):
        assert outcome[check] is True, (check, outcome)


@pytest.mark.django_db(transaction=True)
def test_rows_match_the_orm_on_this_database():
    outcome = run()
    assert outcome["vendor"] == connection.vendor
    _assert_all_true(outcome)


def test_rows_match_the_orm_on_embedded_sqlite(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(ENGINE_SQLITE_PATH=str(tmp_path / "rows.sqlite3"), MEDIA_ROOT=str(tmp_path / "media"),
               DJANGO_SETTINGS_MODULE="engine.settings", PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "tests.engine.core.rows_checks"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["vendor"] == "sqlite"
    _assert_all_true(outcome)


@pytest.mark.parametrize("model", [Task, Alignment, TrainingSample, ObjectInstance])
def test_models_written_by_rows_have_no_save_receivers(model):
    # rows.update and rows.insert send no signals; a receiver added later would silently miss them.
    for signal in (signals.pre_save, signals.post_save):
        assert not signal.has_listeners(model), f"{signal} has a receiver for {model.__name__}"


@pytest.mark.django_db
def test_fetch_refuses_a_to_many_path():
    from engine.core import rows

    with pytest.raises(ValueError, match="only to-one"):
        rows.Fetch(ObjectInstance, "tasks").get(1)


@pytest.mark.django_db
def test_a_remembered_token_is_refused_once_deleted_or_its_user_deactivated(api, annotator):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    token = Token.objects.create(user=annotator)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.get("/api/me/").status_code == 200
    assert client.get("/api/me/").status_code == 200  # served from memory
    annotator.is_active = False
    annotator.save()
    refused = client.get("/api/me/")  # 403, not 401: the first authenticator (sessions) sends no challenge
    assert refused.status_code == 403 and "inactive" in refused.json()["detail"]
    annotator.is_active = True
    annotator.save()
    assert client.get("/api/me/").status_code == 200
    token.delete()
    refused = client.get("/api/me/")
    assert refused.status_code == 403 and "Invalid token" in refused.json()["detail"]
