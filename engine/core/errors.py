"""Stable error codes of the API and the exception handler that emits them.

Every error body is {"code": "<stable code>", "detail": "<what went wrong and how to fix it>",
"fields": {"<field>": ["<reason>", ...]}} (fields only for validation errors).
"""

import errno
import logging
from enum import Enum

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class ErrorCode(str, Enum):
    INVALID = "invalid"
    QUEUE_EMPTY = "queue_empty"
    LEASE_EXPIRED = "lease_expired"
    LEASE_NOT_HELD = "lease_not_held"
    TASK_CLOSED = "task_closed"
    WRONG_STAGE = "wrong_stage"
    OUT_OF_ORDER = "out_of_order"
    ALREADY_RANKED = "already_ranked"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    UPLOAD_REJECTED = "upload_rejected"
    NOT_FOUND = "not_found"
    PERMISSION_DENIED = "permission_denied"
    NOT_AUTHENTICATED = "not_authenticated"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    NOT_ACCEPTABLE = "not_acceptable"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    THROTTLED = "throttled"
    SERVER_ERROR = "server_error"
    UNAVAILABLE = "unavailable"
    STORAGE_FULL = "storage_full"


class EngineError(exceptions.APIException):
    """An error a client can act on, with a stable code."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = ErrorCode.INVALID

    def __init__(self, detail, code=None, status_code=None, fields=None):
        super().__init__(detail)
        self.code = ErrorCode(code or self.default_code)
        if status_code is not None:
            self.status_code = status_code
        self.fields = fields or {}


class LeaseError(EngineError):
    status_code = status.HTTP_409_CONFLICT


def _code_for(exc):
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        return ErrorCode.NOT_AUTHENTICATED
    if isinstance(exc, exceptions.PermissionDenied):
        return ErrorCode.PERMISSION_DENIED
    if isinstance(exc, exceptions.NotFound | Http404):  # get_object_or_404 raises Django's own
        return ErrorCode.NOT_FOUND
    if isinstance(exc, exceptions.MethodNotAllowed):
        return ErrorCode.METHOD_NOT_ALLOWED
    if isinstance(exc, exceptions.NotAcceptable):
        return ErrorCode.NOT_ACCEPTABLE
    if isinstance(exc, exceptions.UnsupportedMediaType):
        return ErrorCode.UNSUPPORTED_MEDIA_TYPE
    if isinstance(exc, exceptions.Throttled):
        return ErrorCode.THROTTLED
    return ErrorCode.INVALID


log = logging.getLogger("engine.errors")
RETRY_AFTER_SECONDS = 2
# The media disk (or its quota) is full: the request wrote nothing that a row points at (see tests/drills).
DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def transient_error(exc):
    """Return the 503 or 507 answer of an error the client should retry later, or None for any other error.

    The database gone (restarting, failed over, out of connections) is OperationalError or
    InterfaceError: the request's transaction was rolled back, so the same request sent again
    (with its Idempotency-Key) is safe. A full media disk is an OSError from the storage.
    """
    if isinstance(exc, OperationalError | InterfaceError):
        log.warning("database unavailable: %s: %s", type(exc).__name__, str(exc).strip()[:300])
        response = Response({"code": ErrorCode.UNAVAILABLE.value,
                             "detail": "The database is unavailable for a moment. "
                                       f"Send the same request again (with the same Idempotency-Key) in {RETRY_AFTER_SECONDS} s."},
                            status=status.HTTP_503_SERVICE_UNAVAILABLE)
    elif isinstance(exc, OSError) and exc.errno in DISK_FULL:
        log.error("media storage full: %s", exc)
        response = Response({"code": ErrorCode.STORAGE_FULL.value,
                             "detail": "The server's file storage is full; nothing was saved. Try again later, "
                                       "and tell an engineer if it persists."},
                            status=status.HTTP_507_INSUFFICIENT_STORAGE)
    else:
        return None
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def exception_handler(exc, context):
    """Render every API error as {code, detail, fields}."""
    transient = transient_error(exc)
    if transient is not None:
        return transient
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    if isinstance(exc, EngineError):
        body = {"code": exc.code.value, "detail": str(exc.detail)}
        if exc.fields:
            body["fields"] = exc.fields
        return Response(body, status=exc.status_code)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        first = next(iter(fields.items()), ("", [""]))
        reason = first[1][0] if isinstance(first[1], list) and first[1] else first[1]
        response.data = {
            "code": ErrorCode.INVALID.value,
            "detail": f"{first[0]}: {reason}" if first[0] != "non_field_errors" else str(reason),
            "fields": fields,
        }
    else:
        response.data = {"code": _code_for(exc).value, "detail": str(getattr(exc, "detail", exc))}
    return response


def page_not_found(request, exception):
    """The 404 of a URL no route matches (handler404): under /api/ the error body; elsewhere Django's page."""
    if not request.path.startswith("/api/"):
        return defaults.page_not_found(request, exception)
    return JsonResponse({"code": ErrorCode.NOT_FOUND.value, "detail": f"No API endpoint at {request.path}; see /api/docs/."},
                        status=404)


def server_error(request, *args, **kwargs):
    """The 500 answer (handler500): under /api/ the error body, with the request id to quote; elsewhere Django's page.

    The exception itself is logged by django.request with the same request id (engine/core/logs.py).
    """
    if not request.path.startswith("/api/"):
        return defaults.server_error(request, *args, **kwargs)
    request_id = getattr(request, "id", None)
    detail = "The server failed to answer this request; the error is logged"
    detail += f" under request id {request_id}." if request_id else "."
    return JsonResponse({"code": ErrorCode.SERVER_ERROR.value, "detail": detail, "request_id": request_id},
                        status=500)
