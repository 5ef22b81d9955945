"""Request ids and log records that log shippers read.

`RequestIdMiddleware` gives every request an id: the client's `X-Request-ID` when it sends a usable
one, a fresh one otherwise. The response carries it back in `X-Request-ID`, an API error body
carries it as `request_id`, and every log record written while the request is served carries it
(`RequestIdFilter`), so a 500 a user reports is one `grep` away in the server's stderr.

`JsonFormatter` writes one JSON object a line (time, level, logger, message, request_id, and the
traceback of an exception), the form Fluent Bit, Vector, Promtail and the cloud agents read as is.
`engine/settings.py` wires both into LOGGING; README "Logs" says how to override it.
"""

import contextvars
import json
import logging
import re
import traceback
import uuid
from datetime import UTC, datetime

HEADER = "X-Request-ID"
# What a client may send: an id of printable, log-safe characters (no spaces, quotes or newlines to forge
# a second log line with), at most 128 of them. Anything else is replaced by an id of our own.
_USABLE = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
NONE = "-"

_request_id = contextvars.ContextVar("request_id", default=NONE)


def current_request_id():
    """The id of the request this thread serves, or "-" outside a request."""
    return _request_id.get()


def request_id_from(value):
    """The client's id when it is usable, else a new one (32 hex digits)."""
    if value and _USABLE.fullmatch(value):
        return value
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Take X-Request-ID from the request or make one; put it on the request, the response and the log records.

    Listed first in MIDDLEWARE, so the id is set before any other middleware logs and it reaches the
    500 responses Django makes from an exception as well.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.id = request_id_from(request.headers.get(HEADER))
        token = _request_id.set(request.id)
        try:
            response = self.get_response(request)
        finally:
            _request_id.reset(token)
        response[HEADER] = request.id
        return response


class RequestIdFilter(logging.Filter):
    """Add `request_id` (and, for django.request's records, `status_code` and the path) to every record."""

    def filter(self, record):
        if not hasattr(record, "request_id"):
            request = getattr(record, "request", None)
            record.request_id = getattr(request, "id", None) or current_request_id()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, request_id, exc_info as text.

    A django.request record also gets `method`, `path` and `status`.
    """

    def format(self, record):
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", current_request_id()),
        }
        request = getattr(record, "request", None)
        if request is not None and hasattr(request, "method"):
            entry["method"] = request.method
            entry["path"] = request.path
        if getattr(record, "status_code", None) is not None:
            entry["status"] = record.status_code
        if record.exc_info:
            entry["exc_type"] = record.exc_info[0].__name__ if record.exc_info[0] else None
            entry["exc_info"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        elif record.stack_info:
            entry["stack_info"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False, default=str)


class PlainFormatter(logging.Formatter):
    """The development form, one line a record (its traceback below it), with the request id."""

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def format(self, record):
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        return super().format(record)
