"""The Idempotency-Key header on requests that create rows: a repeat gets the first answer and creates nothing.

As Stripe's: a key is the client's name for one request, scoped to the user who sends it. A
repeat of that request (same method, path and body) is answered with the first answer, same
status and body (and `Idempotent-Replayed: true`), however late it comes; the same key sent
with another request is refused (422 idempotency_key_reused). Only requests that succeeded
keep their key: one that failed wrote nothing, and its repeat runs again.
Task submits keep their key on the task itself (leases.services.replay). The kept answers are
deleted after a retention window (ENGINE_IDEMPOTENCY_KEY_HOURS, 24 h by default, as Stripe) by
purge(): hourly through Celery beat (engine.core.tasks), or `manage.py purge_idempotency_keys`.
"""

import hashlib
import json
from datetime import timedelta

from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.response import Response

from engine.core import transactions
from engine.core.errors import EngineError, ErrorCode
from engine.core.models import IdempotentRequest

MAX_KEY_LENGTH = IdempotentRequest._meta.get_field("key").max_length


def idempotency_key(request):
    """Return the request's Idempotency-Key header ("" without one); raise 400 if it is too long to keep."""
    key = request.headers.get("Idempotency-Key", "")
    if len(key) > MAX_KEY_LENGTH:
        raise EngineError(f"Idempotency-Key is {len(key)} characters; send at most {MAX_KEY_LENGTH} (a UUID is 36).",
                          fields={"Idempotency-Key": ["too long"]})
    return key


def fingerprint(request):
    """Return the sha256 of the request's method, path and parsed body; an uploaded file counts by name and content."""
    body = json.dumps(_canonical(request.data), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def _canonical(value):
    """Return the body as plain JSON values, the same for the same request however it was encoded."""
    if isinstance(value, UploadedFile):
        digest = hashlib.sha256()
        for chunk in value.chunks():
            digest.update(chunk)
        value.seek(0)  # the view reads it next
        return {"file": value.name, "size": value.size, "sha256": digest.hexdigest()}
    if hasattr(value, "lists"):  # the QueryDict of a form or multipart body: every value of each field
        return {str(k): [_canonical(v) for v in values] for k, values in value.lists()}
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


class Once:
    """A creating request and its Idempotency-Key (or none): replay the first answer, or apply it and keep its answer.

    In a view: `earlier = once.replay()` first (before the lease checks: a late repeat gets the
    first answer too), then validate, then `return once.run(write)` where `write()` creates the
    rows and returns the Response.
    """

    def __init__(self, request):
        self.request = request
        self.key = idempotency_key(request)
        self._fingerprint = None

    @property
    def fingerprint(self):
        if self._fingerprint is None:
            self._fingerprint = fingerprint(self.request)
        return self._fingerprint

    def replay(self):
        """Return the answer of an earlier request with this key, or None; raise 422 if that request was another."""
        if not self.key:
            return None
        earlier = IdempotentRequest.objects.filter(user=self.request.user, key=self.key).first()
        return None if earlier is None else self._answer(earlier)

    def run(self, write):
        """Return `write()`'s response, its answer kept under the key in the same transaction as its rows."""
        if not self.key:
            return write()
        # engine.core.transactions' atomic: files `write()` stored go again if this transaction rolls back
        # after it (the kept answer fails to save, say), as its rows do.
        with transactions.atomic():
            try:
                # The key is taken before anything is written. A repeat sent at the same moment (a
                # double click, a retry on a timeout) waits here until this transaction ends; if
                # it commits, the repeat finds the key taken and gets this answer, having written nothing.
                with transaction.atomic():  # a savepoint: the transaction goes on after a taken key
                    kept = IdempotentRequest.objects.create(
                        user=self.request.user, key=self.key, fingerprint=self.fingerprint,
                        request=f"{self.request.method} {self.request.path}"[:200],
                    )
            except IntegrityError:
                return self._answer(IdempotentRequest.objects.get(user=self.request.user, key=self.key))
            response = write()
            kept.status_code = response.status_code
            kept.response = response.data
            kept.save(update_fields=["status_code", "response"])
        return response

    def _answer(self, earlier):
        if earlier.fingerprint != self.fingerprint:
            raise EngineError(
                f"Idempotency-Key {self.key!r} was already used for another request ({earlier.request} at "
                f"{earlier.created_at.isoformat()}); a key names one request: send a new key with a new request.",
                code=ErrorCode.IDEMPOTENCY_KEY_REUSED, status_code=422,
                fields={"Idempotency-Key": ["already used for a different request"]},
            )
        return Response(earlier.response, status=earlier.status_code, headers={"Idempotent-Replayed": "true"})


def expired(older_than_hours):
    """Return the kept answers older than `older_than_hours`."""
    return IdempotentRequest.objects.filter(created_at__lt=timezone.now() - timedelta(hours=older_than_hours))


def purge(older_than_hours, batch=10_000):
    """Delete the kept answers older than `older_than_hours`, at most `batch` rows per statement; return how many."""
    if not older_than_hours > 0:  # a cutoff at or after now would delete the answers still owed to repeats
        raise ValueError(f"older_than_hours must be a positive number of hours, got {older_than_hours}.")
    # In batches, each committed on its own: a backlog (a beat that was down for a week) never
    # holds one long transaction and its row locks on a table every keyed request writes to.
    old, deleted = expired(older_than_hours), 0
    while True:
        ids = list(old.values_list("pk", flat=True)[:batch])
        if not ids:
            return deleted
        deleted += IdempotentRequest.objects.filter(pk__in=ids).delete()[0]
