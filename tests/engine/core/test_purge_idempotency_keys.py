"""`manage.py purge_idempotency_keys`: deletes kept answers past the window, keeps the rest; a bad window is an error."""

import io
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.utils import timezone

from engine.core.models import IdempotentRequest

pytestmark = pytest.mark.django_db


def kept(user, key, hours_ago):
    row = IdempotentRequest.objects.create(user=user, key=key, fingerprint="f" * 64, request="POST /x",
                                          status_code=201, response={"id": 1})
    IdempotentRequest.objects.filter(pk=row.pk).update(created_at=timezone.now() - timedelta(hours=hours_ago))


def test_deletes_answers_older_than_the_window_and_keeps_the_rest():
    user = User.objects.create_user("ines")
    kept(user, "old", 30)
    kept(user, "recent", 2)
    out = io.StringIO()
    call_command("purge_idempotency_keys", "--dry-run", stdout=out)
    assert "1 kept answers" in out.getvalue() and IdempotentRequest.objects.count() == 2
    call_command("purge_idempotency_keys", stdout=out)
    assert set(IdempotentRequest.objects.values_list("key", flat=True)) == {"recent"}
    call_command("purge_idempotency_keys", "--older-than", "1", stdout=out)
    assert not IdempotentRequest.objects.exists()


@pytest.mark.parametrize("hours", ["0", "-3"])
def test_a_window_that_is_not_positive_is_refused(hours):
    with pytest.raises(CommandError, match="positive number of hours"):
        call_command("purge_idempotency_keys", "--older-than", hours)
