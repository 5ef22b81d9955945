"""32 concurrent claimants on PostgreSQL (SKIP LOCKED) and on the embedded SQLite (conditional UPDATE).

Each claims and submits through what the API calls (leases.serve, alignment.services.submit), so
a task handed to two claimants fails the second submit's lease check as well as the count.
One annotator claiming from several tabs at once holds one task, on both databases.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connections

from tests.engine.leases.claimants import run, tabs

THREADS = 32
TASKS = 200
ROOT = Path(__file__).resolve().parents[3]


def _assert_clean(outcome):
    assert outcome["errors"] == []
    assert outcome["claimed"] == outcome["tasks"], "some tasks were never claimed"
    assert outcome["duplicates"] == 0
    assert outcome["done"] == outcome["tasks"], "submissions were lost"
    assert outcome["wrong_owner"] == 0
    assert outcome["samples"] == outcome["objects_done"] == outcome["tasks"], "a submit's writes were lost or doubled"


@pytest.mark.django_db(transaction=True)
def test_postgresql_claims_never_duplicate_or_lose():
    if connections["default"].vendor != "postgresql":
        pytest.skip("DATABASE_URL is not PostgreSQL (CI runs this on PostgreSQL)")
    outcome = run(THREADS, TASKS)
    assert outcome["vendor"] == "postgresql"
    _assert_clean(outcome)


def _embedded(tmp_path, *args):
    """Run claimants.py with the embedded SQLite default in a subprocess; return its outcome."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(ENGINE_SQLITE_PATH=str(tmp_path / "embedded.sqlite3"), MEDIA_ROOT=str(tmp_path / "media"),
               DJANGO_SETTINGS_MODULE="engine.settings", PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-m", "tests.engine.leases.claimants", *map(str, args)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["vendor"] == "sqlite"
    return outcome


def test_embedded_sqlite_claims_never_duplicate_or_lose(tmp_path):
    _assert_clean(_embedded(tmp_path, THREADS, TASKS))


TABS = 8
ROUNDS = 12


def _assert_one_task_per_round(outcome):
    assert outcome["errors"] == []
    assert outcome["rounds_with_several_tasks"] == 0, "one annotator was leased several tasks at once"
    assert outcome["objects_ranked_twice"] == 0
    assert outcome["rounds_served_nothing"] == 0, "tasks went missing"


@pytest.mark.django_db(transaction=True)
def test_postgresql_tabs_of_one_annotator_claiming_at_once_hold_one_task():
    if connections["default"].vendor != "postgresql":
        pytest.skip("DATABASE_URL is not PostgreSQL (CI runs this on PostgreSQL)")
    _assert_one_task_per_round(tabs(TABS, ROUNDS))


def test_embedded_sqlite_tabs_of_one_annotator_claiming_at_once_hold_one_task(tmp_path):
    _assert_one_task_per_round(_embedded(tmp_path, "tabs", TABS, ROUNDS))


@pytest.mark.django_db(transaction=True)
def test_a_second_tab_is_served_the_task_the_first_tab_is_still_leasing(project, annotator, image):
    """The first claim has leased a task but not committed yet when the second claim reads the queue."""
    import threading

    from django.db import transaction

    from engine.intake.models import ObjectInstance
    from engine.leases import services as leases
    from engine.leases.models import Stage, Task, TaskStatus

    if connections["default"].vendor != "postgresql":
        pytest.skip("row locks and snapshots: PostgreSQL")
    project.ranking_overlap = 2
    project.save(update_fields=["ranking_overlap"])
    obj = ObjectInstance.objects.create(image=image, mask_rle={"size": [image.height, image.width], "counts": [0, 1]},
                                        area=1, bbox=[0, 0, 1, 1], category="person")
    copies = [leases.create(project, Stage.RANK, image=image, object=obj) for _ in range(project.ranking_overlap)]
    second = {}

    def second_tab():
        try:
            second["task"] = leases.serve(annotator, project.pk, Stage.RANK)
        finally:
            connections.close_all()

    # A claim that is slow to commit: its lease is written but not yet visible to others.
    with transaction.atomic():
        first = leases.serve(annotator, project.pk, Stage.RANK)
        tab = threading.Thread(target=second_tab)
        tab.start()
        tab.join(1.0)  # the second claim waits for this one to commit (or, unserialized, takes the other copy)
    tab.join(30)
    assert first.pk == copies[0].pk
    assert second["task"].pk == first.pk, "the second tab was leased the object's other overlap copy"
    leased = Task.objects.filter(status=TaskStatus.LEASED, lease_owner=annotator).values_list("id", flat=True)
    assert list(leased) == [first.pk]
