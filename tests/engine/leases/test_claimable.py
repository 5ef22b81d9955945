"""What the home page counts for a user: the tasks a claim would serve them now, no more."""

from datetime import timedelta

import pytest
from django.utils import timezone

from engine.leases import services as leases
from engine.leases.models import Stage, Task, TaskStatus
from tests.engine.conftest import ready_set

pytestmark = pytest.mark.django_db


def test_a_skipped_task_is_not_counted_for_the_one_who_skipped_it(annotator, annotator2, image):
    project = image.project
    assert leases.claimable(annotator, project.pk, Stage.SELECT) == 1
    task = leases.claim(annotator, project.pk, Stage.SELECT)
    assert leases.claimable(annotator, project.pk, Stage.SELECT) == 1  # the one they hold
    assert leases.claimable(annotator2, project.pk, Stage.SELECT) == 0  # held by someone else
    leases.release(task.pk, annotator, skip=True)
    assert leases.claimable(annotator, project.pk, Stage.SELECT) == 0
    assert leases.claim(annotator, project.pk, Stage.SELECT) is None  # the claim agrees
    assert leases.claimable(annotator2, project.pk, Stage.SELECT) == 1


def test_a_lapsed_lease_counts_as_free(annotator, annotator2, image):
    task = leases.claim(annotator, image.project_id, Stage.SELECT)
    Task.objects.filter(pk=task.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert leases.claimable(annotator2, image.project_id, Stage.SELECT) == 1
    assert leases.claimable(annotator, image.project_id, Stage.SELECT) == 1


def test_stage2_counts_one_copy_of_an_object_and_none_once_ranked(annotator, annotator2, obj, glb_meshes):
    project = obj.image.project
    project.ranking_overlap = 2
    project.save()
    ready_set(obj, glb_meshes, 2)
    assert Task.objects.filter(stage=Stage.RANK, status=TaskStatus.OPEN).count() == 2
    assert leases.claimable(annotator, project.pk, Stage.RANK) == 2
    held = leases.claim(annotator, project.pk, Stage.RANK)
    assert leases.claimable(annotator, project.pk, Stage.RANK) == 1  # the held copy; the other is for someone else
    Task.objects.filter(pk=held.pk).update(status=TaskStatus.DONE, completed_by=annotator)
    assert leases.claimable(annotator, project.pk, Stage.RANK) == 0
    assert leases.claim(annotator, project.pk, Stage.RANK) is None
    assert leases.claimable(annotator2, project.pk, Stage.RANK) == 1
