"""The drills' services: engine/loadtest/services.py, with a service that cannot start skipping the drill."""

import pytest

from engine.loadtest import services
from engine.loadtest.services import (  # noqa: F401
    ROOT,
    Postgres,
    ServiceError,
    engine_env,
    engine_server,
    start,
    stop,
)


def wait_for(check, seconds, what):
    """Call check() until it returns a true value, for at most `seconds`; return that value or fail the drill."""
    try:
        return services.wait_until(check, seconds, what)
    except ServiceError as exc:
        pytest.fail(str(exc))


def redis_server():
    if not services.shutil.which("redis-server"):
        pytest.skip("redis-server is not installed (scripts/system_deps.sh installs it)")
    return services.redis_server()


def postgres(settings=()):
    """Return an initialised throwaway cluster, or skip the drill where PostgreSQL's server programs are missing."""
    try:
        services.pg_bin("initdb")
    except ServiceError as exc:
        pytest.skip(str(exc))
    return Postgres(settings).init()


def manage(env, *args, timeout=300):
    try:
        return services.manage(env, *args, timeout=timeout)
    except ServiceError as exc:
        pytest.fail(str(exc))


def suite_database_url():
    """Return the URL of the test's own database (the one pytest-django made), for processes the drill starts."""
    from django.db import connection

    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
