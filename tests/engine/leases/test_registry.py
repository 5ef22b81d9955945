"""The stage registry: what the queue knows of each stage comes from the stage apps, and leases imports none."""

import ast
import dataclasses
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test.utils import CaptureQueriesContext

from engine.core.errors import EngineError
from engine.core.roles import ARTIST
from engine.leases import api, checks, registry
from engine.leases import services as leases
from engine.leases.models import Stage

LEASES = Path(leases.__file__).parent
STAGE_APPS = ("intake", "candidates", "ranking", "artists", "alignment", "flywheel", "simulation")


def _clear_statement_caches():
    for cached in (leases._claim_statements, leases._claim_sql, leases._fetch):
        cached.cache_clear()


@pytest.fixture
def replaced_stage():
    """Swap a registered stage's spec for a changed copy for one test; put the original back after."""
    originals = {}

    def replace(name, **changes):
        originals.setdefault(name, registry.get(name))
        registry.unregister(name)
        registry.register(dataclasses.replace(originals[name], **changes))
        _clear_statement_caches()

    yield replace
    for name, spec in originals.items():
        registry.unregister(name)
        registry.register(spec)
    _clear_statement_caches()


def _imported_modules(path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def test_leases_imports_no_stage_module_not_even_inside_a_function():
    reaching_up = sorted(
        f"{path.relative_to(LEASES.parent.parent)}: {module}"
        for path in LEASES.rglob("*.py") for module in _imported_modules(path)
        if module.split(".")[:2] in (["engine", app] for app in STAGE_APPS)
    )
    assert reaching_up == []


def test_every_stage_of_a_task_is_registered_by_its_app():
    assert [spec.name for spec in registry.stages()] == ["select", "rank", "artist", "align"]
    assert {spec.name for spec in registry.stages()} == set(Stage.values)
    assert registry.get("artist").submit.__module__ == "engine.artists.api"
    assert checks.check_stage_registry(None) == []


def test_a_stage_registered_twice_is_an_error():
    with pytest.raises(ImproperlyConfigured, match="'rank' is already registered"):
        registry.register(registry.get("rank"))
    assert [spec.name for spec in registry.stages()].count("rank") == 1


def test_an_unregistered_stage_is_named_with_the_registered_ones():
    with pytest.raises(ImproperlyConfigured, match=r"No stage 'paint' is registered \(registered: align, artist"):
        registry.get("paint")


def test_the_system_check_names_a_shipped_stage_without_a_spec_and_a_name_too_long_to_hold():
    errors = checks.stage_registry_errors(["select", "rank"], ["rank", "paint", "sculpting"])
    assert [e.id for e in errors] == ["leases.E002", "leases.E002"]
    assert "'select' ships with the engine (leases.models.Stage) but no app registered it" in errors[0].msg
    assert "'sculpting' is registered but its name is longer than Task.stage holds (8)" in errors[1].msg


def test_task_stage_takes_the_registered_stages_so_a_new_stage_needs_no_migration():
    from engine.leases.models import Task

    assert list(Task._meta.get_field("stage").choices) == registry.choices()
    assert [name for name, _ in registry.choices()] == ["select", "rank", "artist", "align"]


@pytest.mark.django_db
def test_the_role_a_stage_needs_comes_from_the_registry(replaced_stage, annotator, artist):
    api.check_stage_role(annotator, "align")
    replaced_stage("align", role=ARTIST, label="Stage 3 · Align (artists)")
    api.check_stage_role(artist, "align")
    with pytest.raises(EngineError, match=r"Stage 3 · Align \(artists\) needs the artist role") as info:
        api.check_stage_role(annotator, "align")
    assert info.value.status_code == 403


@pytest.mark.django_db
def test_the_claim_filter_and_joins_come_from_the_registry_and_the_claim_stays_one_statement(
        replaced_stage, project, annotator):
    tasks = [leases.create(project, Stage.ALIGN, priority=p) for p in (9, 5, 1)]
    replaced_stage("align", claim_sql=lambda quote: f"t.{quote('priority')} < 6", related=("project",))
    with CaptureQueriesContext(connection) as queries:
        task = leases.claim(annotator, project.pk, Stage.ALIGN)
    assert task.pk == tasks[1].pk  # the first in serving order that the stage's filter lets through
    assert task._state.fields_cache.keys() == {"project"}  # served with the joins the stage registered
    claims = [q["sql"] for q in queries.captured_queries if "pg_advisory_xact_lock" not in q["sql"]]
    assert len(claims) == 1, claims  # PostgreSQL: one statement (after the claim lock); SQLite: pick + take
    if connection.vendor == "postgresql":
        assert len(queries.captured_queries) == 2 and '"priority" < 6' in claims[0]


@pytest.mark.django_db
def test_a_claim_filter_narrows_only_when_given_and_only_its_own_stage(replaced_stage, project, annotator):
    from engine.artists.stage import of_failure_category

    low, high = (leases.create(project, Stage.ALIGN, priority=p) for p in (1, 9))
    narrowing = registry.ClaimFilter(choices=(("low", "low"),), sql=lambda quote: "t.priority < %(level)s")
    replaced_stage("align", claim_filters={"level": narrowing})
    assert registry.claim_filters() == {"failure_category": registry.get("artist").claim_filters["failure_category"],
                                        "level": narrowing}
    assert registry.get("artist").claim_filters["failure_category"].sql is of_failure_category
    assert leases.claim(annotator, project.pk, Stage.ALIGN, level=5).pk == low.pk
    assert leases.claim(annotator, project.pk, Stage.ALIGN, level="").pk == high.pk  # empty: no narrowing
    # A filter of another stage narrows nothing here.
    assert leases.claim(annotator, project.pk, Stage.SELECT, level=5) is None


def test_each_stage_makes_its_work_in_one_place_its_own_services_module():
    engine = LEASES.parent
    made = {}
    for path in engine.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "create"
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "leases"):
                stage = node.args[1]
                assert isinstance(stage, ast.Attribute), f"{path}:{node.lineno}: name the stage as Stage.X"
                made.setdefault(Stage[stage.attr].value, []).append(str(path.relative_to(engine.parent)))
    # The app that registered the stage is the app whose services open its tasks (open_*), and no other.
    owner = {spec.name: spec.submit.__module__.split(".")[1] for spec in registry.stages()}
    assert made == {name: [f"engine/{app}/services.py"] for name, app in owner.items()}
