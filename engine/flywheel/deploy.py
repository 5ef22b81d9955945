"""Which checkpoints the model suite samples from: the promoted ones, a few at once.

Promoting a checkpoint keeps the `keep - 1` most recently promoted others deployed beside it
and retires the rest, so Stage 2 puts the new model head to head with the one before it.
Every change is a DeploymentEvent; a rollback retires the newest and brings back the ones
promoted before it, as they stood.
"""

from django.db import transaction
from django.utils import timezone

from engine.flywheel.models import CheckpointStatus, DeploymentAction, DeploymentEvent, ModelCheckpoint

DEFAULT_KEEP = 2


class RollbackError(ValueError):
    """There is nothing to roll back to."""


def deployed_checkpoints():
    """Return the directories of promoted checkpoints, newest first."""
    return list(
        ModelCheckpoint.objects.filter(status=CheckpointStatus.PROMOTED).order_by("-promoted_at", "-id")
        .values_list("path", flat=True)
    )


def deployed():
    """Return the promoted checkpoints, newest first."""
    return list(ModelCheckpoint.objects.filter(status=CheckpointStatus.PROMOTED).order_by("-promoted_at", "-id"))


def newest_deployed():
    """Return the most recently promoted checkpoint, or None."""
    return ModelCheckpoint.objects.filter(status=CheckpointStatus.PROMOTED).order_by("-promoted_at", "-id").first()


def promote(checkpoint, keep=DEFAULT_KEEP, project=None, run=None, reason=""):
    """Deploy `checkpoint` as the newest; keep the keep-1 newest other deployed ones and retire the rest."""
    if keep < 1:
        raise ValueError(f"keep is how many checkpoints stay deployed, at least 1; got {keep}")
    with transaction.atomic():
        list(ModelCheckpoint.objects.select_for_update().filter(status=CheckpointStatus.PROMOTED))  # one promoter at a time
        checkpoint.status = CheckpointStatus.PROMOTED
        checkpoint.promoted_at = timezone.now()
        checkpoint.save(update_fields=["status", "promoted_at"])
        DeploymentEvent.objects.create(project=project, checkpoint=checkpoint, action=DeploymentAction.PROMOTE,
                                       run=run, reason=reason)
        _retire_beyond(keep, project, run, f"more than {keep} deployed")
    return checkpoint


def _retire_beyond(keep, project, run, reason):
    for old in deployed()[keep:]:
        old.status = CheckpointStatus.RETIRED
        old.save(update_fields=["status"])
        DeploymentEvent.objects.create(project=project, checkpoint=old, action=DeploymentAction.RETIRE, run=run,
                                       reason=reason)


def rolled_back_ids():
    """Return the ids of checkpoints a rollback took out of the suite (never restored by a later rollback)."""
    return set(DeploymentEvent.objects.filter(action=DeploymentAction.ROLLBACK).values_list("checkpoint_id", flat=True))


def rollback(keep=DEFAULT_KEEP, project=None, reason=""):
    """Retire the newest deployed checkpoint and redeploy the `keep` promoted before it; return (out, restored).

    "Before it" is the order of promotion; a checkpoint rolled back once never comes back this way.
    """
    with transaction.atomic():
        list(ModelCheckpoint.objects.select_for_update().filter(status=CheckpointStatus.PROMOTED))
        newest = newest_deployed()
        if newest is None:
            raise RollbackError("No checkpoint is deployed; there is nothing to roll back.")
        gone = rolled_back_ids() | {newest.pk}
        earlier = [c for c in ModelCheckpoint.objects.filter(promoted_at__isnull=False, promoted_at__lte=newest.promoted_at)
                   .exclude(pk__in=gone).order_by("-promoted_at", "-id")][:keep]
        if not earlier:
            raise RollbackError(f"{newest.name} is the only checkpoint ever promoted; there is nothing to go back to.")
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
