"""Liveness and readiness for load balancers and orchestrators: GET /healthz and GET /readyz.

/healthz answers 200 while the process serves requests and touches nothing else, so a database
outage never makes an orchestrator restart healthy web processes. /readyz runs the checks below at
once and answers 200 when all pass, 503 naming each that failed, with each check's milliseconds:

- database: a fresh connection of the default alias answers `SELECT 1`;
- migrations: every migration on disk is recorded as applied (new code before `migrate` is not ready);
- redis: PING, when REDIS_URL is set (without it jobs run in-process and there is nothing to ask);
- media: the default storage (MEDIA_ROOT or the S3 bucket) takes a tiny file and deletes it.

Each check runs in a small pool of threads and is waited for ENGINE["READYZ_TIMEOUT_SECONDS"] at most,
so a dead or hung dependency answers 503 in that time instead of holding a gunicorn thread; a check
still hung from an earlier probe holds a pool thread, never more than the pool's few.

`HealthMiddleware` answers both paths ahead of the host, session, CSRF and authentication middleware:
a probe carries no cookie or token, a load balancer probes by the host's IP (which ALLOWED_HOSTS need
not list), and no throttle or session row is touched.
"""

import logging
import math
import time
import uuid
from concurrent.futures import ThreadPoolExecutor, wait
from functools import cache

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connections
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.db.utils import load_backend
from django.http import HttpResponseNotAllowed, JsonResponse

logger = logging.getLogger(__name__)

LIVENESS_PATHS = {"/healthz", "/healthz/"}
READINESS_PATHS = {"/readyz", "/readyz/"}
MEDIA_PROBE_DIR = "readyz"  # the probe's file lives here for a few milliseconds

# Four checks per probe; a few more threads let a probe run while an earlier one's check is still hung.
_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="readyz")
_last_failed = None  # the failed checks of this process's previous probe: logged only when they change


class CheckFailed(Exception):
    """A dependency answered, but not as it should (the message says how)."""


@cache
def migrations_on_disk():
    """Return the (app, name) of every migration this code ships, read once per process (~30 ms)."""
    return frozenset(MigrationLoader(None, ignore_no_migrations=True).graph.nodes)


def _private_connection(alias="default"):
    """Return a connection of the probe's own, with a connect timeout for PostgreSQL."""
    params = dict(connections.settings[alias])
    if params["ENGINE"] == "django.db.backends.postgresql":
        # libpq's smallest connect_timeout is 2 s; the probe stops waiting at READYZ_TIMEOUT_SECONDS anyway.
        timeout = max(2, math.ceil(settings.ENGINE["READYZ_TIMEOUT_SECONDS"]))
        params["OPTIONS"] = {**params.get("OPTIONS", {}), "connect_timeout": timeout}
    return load_backend(params["ENGINE"]).DatabaseWrapper(params, alias)


def check_database(conn):
    """Run `SELECT 1`."""
    with conn.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_migrations(conn):
    """Fail when a migration this code ships is not recorded as applied."""
    # Read on this connection: MigrationRecorder's queryset would open the pool thread's own, left open.
    if MigrationRecorder.Migration._meta.db_table not in conn.introspection.table_names():
        raise CheckFailed("no migration is applied; run manage.py migrate")
    with conn.cursor() as cursor:
        cursor.execute("SELECT app, name FROM django_migrations")
        applied = set(cursor.fetchall())
    unapplied = sorted(migrations_on_disk() - applied)
    if unapplied:
        names = ", ".join(f"{app}.{name}" for app, name in unapplied[:5])
        more = f" and {len(unapplied) - 5} more" if len(unapplied) > 5 else ""
        raise CheckFailed(f"{len(unapplied)} unapplied: {names}{more}; run manage.py migrate")


def check_redis():
    """PING REDIS_URL with short socket timeouts."""
    import redis

    timeout = settings.ENGINE["READYZ_TIMEOUT_SECONDS"]
    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        if not client.ping():
            raise CheckFailed("PING did not answer PONG")
    finally:
        client.close()


def check_media():
    """Write a few bytes to the default storage and delete them."""
    name = default_storage.save(f"{MEDIA_PROBE_DIR}/{uuid.uuid4().hex}.txt", ContentFile(b"ready\n"))
    default_storage.delete(name)


def _run(check, *args):
    """Run one check; return its result: {"ok", "ms"} and, on failure, "error" (the reason)."""
    start = time.perf_counter()
    try:
        check(*args)
    except Exception as exc:  # any failure of a dependency is a reason in the report, never a 500
        reason = str(exc) if isinstance(exc, CheckFailed) else f"{type(exc).__name__}: {exc}".strip()
        return {"ok": False, "ms": _ms_since(start), "error": reason[:500]}
    return {"ok": True, "ms": _ms_since(start)}


def _ms_since(start):
    return round((time.perf_counter() - start) * 1000, 1)


def _database_and_migrations():
    conn = _private_connection()
    try:
        database = _run(check_database, conn)
        migrations = (_run(check_migrations, conn) if database["ok"]
                      else {"ok": False, "ms": 0.0, "error": "not checked: the database did not answer"})
    finally:
        conn.close()
    return {"database": database, "migrations": migrations}


def readiness():
    """Run every check at once; return (all passed, {name: {"ok", "ms", "error"?}})."""
    timeout = settings.ENGINE["READYZ_TIMEOUT_SECONDS"]
    jobs = {("database", "migrations"): _pool.submit(_database_and_migrations),
            ("media",): _pool.submit(lambda: {"media": _run(check_media)})}
    if settings.REDIS_URL:
        jobs[("redis",)] = _pool.submit(lambda: {"redis": _run(check_redis)})
    start = time.perf_counter()
    wait(jobs.values(), timeout=timeout)
    results = {}
    for names, future in jobs.items():
        if future.done():
            results.update(future.result())
            continue
        future.cancel()  # not started yet (the pool is busy with hung checks): never start it late
        for name in names:
            results[name] = {"ok": False, "ms": _ms_since(start), "error": f"no answer within {timeout:g} s"}
    return all(r["ok"] for r in results.values()), dict(sorted(results.items()))


def healthz(request):
    """Answer 200: the process serves requests."""
    return JsonResponse({"status": "alive"})


def readyz(request):
    """Answer 200 when every dependency works, 503 naming each that does not."""
    global _last_failed
    ready, checks = readiness()
    failed = sorted(name for name, result in checks.items() if not result["ok"])
    if failed != _last_failed:
        if failed:
            logger.warning("not ready: %s", "; ".join(f"{n}: {checks[n]['error']}" for n in failed))
        elif _last_failed:
            logger.warning("ready again")
        _last_failed = failed
    body = {"status": "ready" if ready else "unavailable", "checks": checks}
    if failed:
        body["failed"] = failed
    response = JsonResponse(body, status=200 if ready else 503)
    # Logged above once per change; django.request would log an ERROR for every probe while unready.
    response._has_been_logged = True
    return response


class HealthMiddleware:
    """Answer /healthz and /readyz before the middleware that needs a known host, a session or a user."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path in LIVENESS_PATHS:
            view = healthz
        elif request.path in READINESS_PATHS:
            view = readyz
        else:
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET", "HEAD"])
        response = view(request)
        response["Cache-Control"] = "no-store"
        return response
