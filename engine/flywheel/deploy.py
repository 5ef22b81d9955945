"""Which checkpoints the model suite samples from: the promoted ones, a few at once, per project.

A checkpoint belongs to a project (ModelCheckpoint.project) or is shared. Each project deploys,
retires and rolls back its own checkpoints only: promoting one keeps the `keep - 1` most
recently promoted others of the same project deployed beside it and retires the rest, so Stage 2
puts the new model head to head with the one before it, and another project's flywheel leaves
them alone. Shared checkpoints (registered without a project) are a deployment of their own,
with the default keep, and sit in every project's suite. A project trains from its own newest
deployed checkpoint, or from the newest shared one before it has one.

Every change is a DeploymentEvent; a rollback retires the project's newest and brings back the
ones it promoted before it, as they stood.
"""

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from engine.flywheel.models import CheckpointStatus, DeploymentAction, DeploymentEvent, ModelCheckpoint

DEFAULT_KEEP = 2


class RollbackError(ValueError):
    """There is nothing to roll back to."""


def _promoted():
    return ModelCheckpoint.objects.filter(status=CheckpointStatus.PROMOTED).order_by("-promoted_at", "-id")


def _own(project):
    """Select the checkpoints of the project's own deployment (the shared ones for None)."""
    return Q(project=project) if project is not None else Q(project__isnull=True)


def deployed(project, shared=True):
    """Return the checkpoints deployed for the project's suite, newest first: its own, and the shared ones."""
    return list(_promoted().filter(_own(project) | Q(project__isnull=True) if shared else _own(project)))


def newest_deployed(project):
    """Return the checkpoint the project trains from: its newest deployed one, else the newest shared one, or None."""
    return _promoted().filter(_own(project)).first() or _promoted().filter(project__isnull=True).first()


def deployed_checkpoints(project=None):
    """Return the directories of deployed checkpoints, newest first, each once: a project's (with the shared
    ones), or with no project every one deployed (the suite's, engine.candidates.generation)."""
    rows = _promoted() if project is None else _promoted().filter(_own(project) | Q(project__isnull=True))
    return list(dict.fromkeys(rows.values_list("path", flat=True)))  # two projects may deploy one base folder


def promote(checkpoint, keep=DEFAULT_KEEP, project=None, run=None, reason=""):
    """Deploy `checkpoint` as its project's newest; keep the keep-1 newest others of that project and retire the rest.

    `project`, when given, must be the checkpoint's own: a project never promotes (and so never
    retires) another project's checkpoints.
    """
    if keep < 1:
        raise ValueError(f"keep is how many checkpoints stay deployed, at least 1; got {keep}")
    if project is not None and checkpoint.project_id != project.pk:
        raise ValueError(f"checkpoint {checkpoint.name} belongs to "
                         + (f"project {checkpoint.project}" if checkpoint.project_id else "no project (it is shared)")
                         + f", not to {project}; register it with that project to deploy it there")
    owner = checkpoint.project
    with transaction.atomic():
        # One promoter at a time per deployment: another project's promotion does not wait on this one.
        list(ModelCheckpoint.objects.select_for_update().filter(_own(owner), status=CheckpointStatus.PROMOTED))
        checkpoint.status = CheckpointStatus.PROMOTED
        checkpoint.promoted_at = timezone.now()
        checkpoint.save(update_fields=["status", "promoted_at"])
        DeploymentEvent.objects.create(project=owner, checkpoint=checkpoint, action=DeploymentAction.PROMOTE,
                                       run=run, reason=reason)
        _retire_beyond(owner, keep, run, f"more than {keep} deployed")
    return checkpoint


def _retire_beyond(project, keep, run, reason):
    for old in deployed(project, shared=False)[keep:]:
        old.status = CheckpointStatus.RETIRED
        old.save(update_fields=["status"])
        DeploymentEvent.objects.create(project=project, checkpoint=old, action=DeploymentAction.RETIRE, run=run,
                                       reason=reason)


def rolled_back_ids():
    """Return the ids of checkpoints a rollback took out of the suite (never restored by a later rollback)."""
    return set(DeploymentEvent.objects.filter(action=DeploymentAction.ROLLBACK).values_list("checkpoint_id", flat=True))


def rollback(project, keep=None, reason=""):
    """Retire the project's newest deployed checkpoint, redeploy the `keep` it promoted before; return (out, restored).

    "Before it" is the order of promotion among the project's own checkpoints (the shared ones
    with project None); a checkpoint rolled back once never comes back this way. `keep` defaults
    to project.checkpoints_deployed.
    """
    if keep is None:
        keep = project.checkpoints_deployed if project is not None else DEFAULT_KEEP
    whose = f"of {project} " if project is not None else "shared "
    with transaction.atomic():
        list(ModelCheckpoint.objects.select_for_update().filter(_own(project), status=CheckpointStatus.PROMOTED))
        newest = _promoted().filter(_own(project)).first()
        if newest is None:
            raise RollbackError(f"No checkpoint {whose}is deployed; there is nothing to roll back.")
        gone = rolled_back_ids() | {newest.pk}
        earlier = list(ModelCheckpoint.objects.filter(_own(project), promoted_at__isnull=False,
                                                      promoted_at__lte=newest.promoted_at)
                       .exclude(pk__in=gone).order_by("-promoted_at", "-id")[:keep])
        if not earlier:
            raise RollbackError(f"{newest.name} is the only checkpoint {whose}ever promoted; there is nothing to go "
                                "back to.")
        newest.status = CheckpointStatus.RETIRED
        newest.save(update_fields=["status"])
        DeploymentEvent.objects.create(project=project, checkpoint=newest, action=DeploymentAction.ROLLBACK,
                                       reason=reason)
        for c in earlier:
            if c.status != CheckpointStatus.PROMOTED:
                c.status = CheckpointStatus.PROMOTED
                c.save(update_fields=["status"])
                DeploymentEvent.objects.create(project=project, checkpoint=c, action=DeploymentAction.RESTORE,
                                               reason=f"rollback of {newest.name}")
    return newest, earlier
