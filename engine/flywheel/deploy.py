"""Which checkpoints the model suite samples from: the promoted ones."""

from django.db import transaction
from django.utils import timezone

from engine.flywheel.models import CheckpointStatus, ModelCheckpoint


def deployed_checkpoints():
    """Return the directories of promoted checkpoints, newest first."""
    return list(
        ModelCheckpoint.objects.filter(status=CheckpointStatus.PROMOTED).order_by("-promoted_at").values_list("path", flat=True)
    )


def promote(checkpoint):
    """Promote a checkpoint into the suite, retiring the one it replaces in the same stage line."""
    with transaction.atomic():
        ModelCheckpoint.objects.filter(status=CheckpointStatus.PROMOTED).exclude(pk=checkpoint.pk).update(
            status=CheckpointStatus.RETIRED
        )
        checkpoint.status = CheckpointStatus.PROMOTED
        checkpoint.promoted_at = timezone.now()
        checkpoint.save(update_fields=["status", "promoted_at"])
    return checkpoint
