"""Deployment: promotion keeps the project's number of checkpoints deployed; a rollback restores the ones before.

The shared checkpoints (registered without a project) are one deployment of their own; the per-project
scoping is in test_deploy_projects.py.
"""

import pytest
from django.core.management import CommandError, call_command

from engine.flywheel import deploy
from engine.flywheel.models import CheckpointStatus, DeploymentEvent, ModelCheckpoint

pytestmark = pytest.mark.django_db


def checkpoints(n, project=None):
    return [ModelCheckpoint.objects.create(name=f"c{i}", path=f"/runs/c{i}", stage="dpo", project=project)
            for i in range(n)]


def names(qs):
    return [c.name for c in qs]


def test_promotion_keeps_the_previous_checkpoint_deployed_beside_the_new_one():
    c0, c1, c2 = checkpoints(3)
    for c in (c0, c1, c2):
        deploy.promote(c)
    assert names(deploy.deployed(None)) == ["c2", "c1"]
    assert deploy.deployed_checkpoints() == ["/runs/c2", "/runs/c1"]
    assert ModelCheckpoint.objects.get(name="c0").status == CheckpointStatus.RETIRED
    assert list(DeploymentEvent.objects.values_list("checkpoint__name", "action")) == [
        ("c0", "promote"), ("c1", "promote"), ("c2", "promote"), ("c0", "retire")]


def test_keep_is_a_setting():
    cs = checkpoints(4)
    for c in cs:
        deploy.promote(c, keep=3)
    assert names(deploy.deployed(None)) == ["c3", "c2", "c1"]
    deploy.promote(cs[0], keep=1)
    assert names(deploy.deployed(None)) == ["c0"]
    with pytest.raises(ValueError, match="at least 1"):
        deploy.promote(cs[1], keep=0)


def test_rollback_retires_the_newest_and_restores_the_ones_promoted_before(project):
    c0, c1, c2 = checkpoints(3, project)
    for c in (c0, c1, c2):
        deploy.promote(c, project=project)
    call_command("flywheel", "rollback", "--project", project.name, "--reason", "bad meshes", verbosity=0)
    assert names(deploy.deployed(project)) == ["c1", "c0"]
    assert ModelCheckpoint.objects.get(name="c2").status == CheckpointStatus.RETIRED
    event = DeploymentEvent.objects.get(action="rollback")
    assert event.checkpoint.name == "c2" and event.reason == "bad meshes" and event.project == project
    assert DeploymentEvent.objects.get(action="restore").checkpoint.name == "c0"
    # A second rollback goes further back, and never brings back what was rolled back.
    deploy.rollback(project)
    assert names(deploy.deployed(project)) == ["c0"]
    with pytest.raises(CommandError, match="nothing to go back to"):
        call_command("flywheel", "rollback", "--project", project.name, verbosity=0)


def test_rollback_with_nothing_deployed_says_so(project):
    with pytest.raises(CommandError, match="No checkpoint of test is deployed"):
        call_command("flywheel", "rollback", "--project", project.name, verbosity=0)
    with pytest.raises(CommandError, match="No project named 'nope'"):
        call_command("flywheel", "rollback", "--project", "nope", verbosity=0)
