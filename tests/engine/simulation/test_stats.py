"""Simulated work fills the stages but stays out of the statistics of human quality."""

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from annotation_ui import stats
from engine.core.models import Project
from engine.core.roles import ANNOTATOR
from engine.leases.models import Stage, Task, TaskStatus
from engine.simulation.pool import create_pool, is_simulated
from tests.engine.simulation.conftest import make_user

pytestmark = pytest.mark.django_db


def done(project, user, seconds):
    return Task.objects.create(project=project, stage=Stage.SELECT, status=TaskStatus.DONE, completed_by=user,
                               completed_at=timezone.now(), seconds_spent=seconds)


def test_simulated_users_are_marked_and_left_out_of_human_statistics():
    project = Project.objects.create(name="stats")
    iteration = project.current_iteration()
    person = make_user("person", ANNOTATOR)
    pool = create_pool(annotators=2, artists=1, prefix="robot")
    robots = User.objects.filter(username__startswith="robot-")
    assert robots.count() == 3 and all(is_simulated(u) for u in robots) and not is_simulated(person)
    assert {m.role for m in pool.members} == {"annotator", "artist"}
    for seconds in (10.0, 20.0, 30.0):
        done(project, person, seconds)
    for robot in robots.filter(username__contains="annotator"):
        for _ in range(5):
            done(project, robot, 0.0)

    assert set(stats.human_users().values_list("username", flat=True)) == {"person"}
    [row] = stats.per_annotator(project, iteration)
    assert (row["user"], row["done"], row["median_seconds"]) == ("person", 3, 20.0)
    select = next(r for r in stats.throughput(project, iteration) if r["stage"] == Stage.SELECT)
    assert select["done"] == 13  # all work done counts as work done
    assert select["median_seconds"] == 20.0  # but the seconds per task are the people's


def test_a_pool_made_again_keeps_its_users_and_gives_them_new_passwords():
    first = create_pool(annotators=1, artists=0, prefix="again")
    second = create_pool(annotators=1, artists=0, prefix="again")
    assert User.objects.filter(username="again-annotator-0").count() == 1
    assert first.members[0].password != second.members[0].password
    assert User.objects.get(username="again-annotator-0").check_password(second.members[0].password)
