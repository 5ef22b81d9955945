"""`manage.py simulate`: seed composites, serve the app, run the pool, print a JSON summary."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from engine.core.models import Project
from engine.intake.services import ingest
from engine.leases.models import Stage, Task, TaskStatus
from tests.engine.simulation.conftest import FAST_GENERATORS

pytestmark = pytest.mark.django_db(transaction=True)


def test_simulate_seeds_and_works_a_project_and_leaves_photographs_without_truth_to_people(fast_suite,
                                                                                          astronaut_png):
    project = Project.objects.create(name="cmd", alpha=0.0, n_candidates=2, generators=FAST_GENERATORS,
                                     taxonomy=["mug", "bottle", "person"])
    photo, _ = ingest(project, astronaut_png, "astronaut.png", source_dataset="skimage")
    out = io.StringIO()
    call_command("simulate", "--project", "cmd", "--composites", "1", "--annotators", "1", "--artists", "0",
                 "--idle", "2", "--seed", "9", stdout=out, stderr=io.StringIO())
    summary = json.loads(out.getvalue())
    assert summary["project"] == project.pk and summary["composites"] == 1
    assert summary["counts"] == {"select": 1, "rank": 1, "artist": 0, "align": 1}, summary
    assert summary["skipped"] >= 1 and summary["errors"] == [] and summary["url"].startswith("http://127.0.0.1:")
    left = Task.objects.get(image=photo, stage=Stage.SELECT)
    assert left.status == TaskStatus.OPEN and left.completed_by is None


def test_simulate_names_a_missing_project():
    with pytest.raises(CommandError, match="No project 'nowhere'.*--create"):
        call_command("simulate", "--project", "nowhere", stdout=io.StringIO(), stderr=io.StringIO())
