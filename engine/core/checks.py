"""System checks of the engine's configuration."""

from django.conf import settings
from django.core.checks import Error, Warning, register


@register()
def check_engine_settings(app_configs, **kwargs):
    errors = []
    engine = settings.ENGINE
    if engine["LEASE_SECONDS"] < 30:
        errors.append(Error(
            f"ENGINE_LEASE_SECONDS is {engine['LEASE_SECONDS']}; leases shorter than 30 s expire under annotators.",
            hint="Set ENGINE_LEASE_SECONDS to at least 30 (the default is 900).", id="engine.E001",
        ))
    if not engine["IDEMPOTENCY_KEY_HOURS"] > 0:
        errors.append(Error(
            f"ENGINE_IDEMPOTENCY_KEY_HOURS is {engine['IDEMPOTENCY_KEY_HOURS']:g}; the purge needs a positive window.",
            hint="Set ENGINE_IDEMPOTENCY_KEY_HOURS to a positive number of hours (the default is 24).",
            id="engine.E002",
        ))
    if not 0 < engine["READYZ_TIMEOUT_SECONDS"] <= 30:
        errors.append(Error(
            f"ENGINE_READYZ_TIMEOUT_SECONDS is {engine['READYZ_TIMEOUT_SECONDS']:g}; /readyz needs a short positive wait.",
            hint="Set ENGINE_READYZ_TIMEOUT_SECONDS between 0 and 30, below your load balancer's probe timeout "
                 "(the default is 2).", id="engine.E003",
        ))
    if engine["UPLOAD_MAX_BYTES"] > settings.DATA_UPLOAD_MAX_MEMORY_SIZE * 16:
        errors.append(Warning(
            "ENGINE_UPLOAD_MAX_BYTES is far above DATA_UPLOAD_MAX_MEMORY_SIZE; large uploads spool to disk.",
            hint="Lower ENGINE_UPLOAD_MAX_BYTES or raise DATA_UPLOAD_MAX_MEMORY_SIZE.", id="engine.W001",
        ))
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3") and not settings.DEBUG:
        errors.append(Warning(
            "The embedded SQLite database is in use with DEBUG off.",
            hint="Set DATABASE_URL to a PostgreSQL database for production.", id="engine.W002",
        ))
    return errors
