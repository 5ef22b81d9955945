"""The Celery task that purges kept Idempotency-Key answers, and the beat schedule that sends it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import User

from engine.core import idempotency
from engine.core.models import IdempotentRequest
from engine.core.tasks import purge_idempotency_keys
from tests.engine.core.test_purge_idempotency_keys import kept

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.django_db
def test_the_task_deletes_answers_past_the_settings_window_and_keeps_the_rest(settings):
    user = User.objects.create_user("ines")
    kept(user, "old", 30)
    kept(user, "recent", 2)
    assert purge_idempotency_keys.apply().get() == 1
    assert set(IdempotentRequest.objects.values_list("key", flat=True)) == {"recent"}
    settings.ENGINE = {**settings.ENGINE, "IDEMPOTENCY_KEY_HOURS": 1.0}
    assert purge_idempotency_keys.apply().get() == 1 and not IdempotentRequest.objects.exists()


@pytest.mark.django_db
def test_the_purge_deletes_in_batches_and_refuses_a_window_that_is_not_positive():
    user = User.objects.create_user("ines")
    for i in range(5):
        kept(user, f"old-{i}", 30)
    assert idempotency.purge(24, batch=2) == 5 and not IdempotentRequest.objects.exists()
    with pytest.raises(ValueError, match="positive number of hours"):
        idempotency.purge(0)


def test_celery_beat_sends_the_purge_every_hour():
    from engine.celery import app

    entry = app.conf.beat_schedule["purge-idempotency-keys"]
    assert entry["task"] == purge_idempotency_keys.name == "engine.core.tasks.purge_idempotency_keys"
    assert entry["schedule"] == 3600 and entry["options"]["expires"] == 3600


# A fresh process, as a worker starts: the task is found by autodiscovery alone, and the settings read the interval.
@pytest.mark.parametrize("seconds, answer", [("600", "600.0 True"), ("0", "None None")])
def test_the_purge_interval_comes_from_the_environment_and_0_turns_it_off(seconds, answer):
    code = ("import django; django.setup(); from engine.celery import app; app.loader.import_default_modules();"
            "entry = app.conf.beat_schedule.get('purge-idempotency-keys');"
            "print(entry and entry['schedule'], entry and entry['task'] in app.tasks)")
    env = {**os.environ, "ENGINE_PURGE_IDEMPOTENCY_KEYS_SECONDS": seconds}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == answer, out.stderr
