"""System checks of what the claim relies on: the database settings, and a registered spec for every stage."""

from django.core.checks import Error, register
from django.db import connections, router

from engine.leases import registry
from engine.leases.models import STAGE_NAME_LENGTH, Stage, Task

# Both take SQLite's write lock as the transaction begins; DEFERRED, SQLite's default, waits for the first write.
LOCKING_MODES = ("IMMEDIATE", "EXCLUSIVE")


@register()
def check_claim_database(app_configs, **kwargs):
    """Report the database that task rows are written to if it cannot run claims one at a time."""
    using = router.db_for_write(Task)
    return claim_database_errors(using, connections[using].settings_dict)


def claim_database_errors(alias, settings_dict):
    """Return leases.E001 if `settings_dict`, the DATABASES entry of `alias`, is SQLite without BEGIN IMMEDIATE."""
    if not settings_dict["ENGINE"].endswith("sqlite3"):
        return []
    mode = (settings_dict.get("OPTIONS") or {}).get("transaction_mode")
    if str(mode).upper() in LOCKING_MODES:
        return []
    # See engine.leases.services: a claim reads the queue, then writes its lease, in one transaction.
    mode = "unset" if mode is None else repr(mode)
    return [Error(
        f"DATABASES[{alias!r}] is SQLite with OPTIONS['transaction_mode'] {mode}: task claims run one at a time by "
        "taking the write lock as their transaction begins (BEGIN IMMEDIATE); without it, concurrent claims read "
        "the queue together and then fail with 'database is locked'.",
        hint=f"Set DATABASES[{alias!r}]['OPTIONS']['transaction_mode'] = 'IMMEDIATE', as engine/settings.py "
             "does for the embedded default.",
        id="leases.E001",
    )]


@register()
def check_stage_registry(app_configs, **kwargs):
    """Report a stage of Task.stage that no app registered, and a registered stage Task.stage cannot hold."""
    return stage_registry_errors(Stage.values, [spec.name for spec in registry.stages()])


def stage_registry_errors(shipped, registered):
    """Return leases.E002 for each shipped stage without a spec and each spec whose name Task.stage cannot hold."""
    errors = [Error(
        f"Stage {name!r} ships with the engine (leases.models.Stage) but no app registered it, so its tasks cannot "
        "be claimed.",
        hint="Register a StageSpec in the stage app's AppConfig.ready() (see engine/leases/registry.py), and "
             "check that the app is in INSTALLED_APPS.",
        id="leases.E002",
    ) for name in shipped if name not in registered]
    errors += [Error(
        f"Stage {name!r} is registered but its name is longer than Task.stage holds ({STAGE_NAME_LENGTH}).",
        hint="Give the stage a shorter name (its StageSpec.name).",
        id="leases.E002",
    ) for name in registered if len(name) > STAGE_NAME_LENGTH]
    return errors
