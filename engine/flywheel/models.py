"""Checkpoints trained on the engine's records, the flywheel runs that train them and their deployments."""

from django.conf import settings
from django.db import models

from engine.core.models import Iteration


class CheckpointStatus(models.TextChoices):
    TRAINED = "trained"
    EVALUATED = "evaluated"
    PROMOTED = "promoted"
    RETIRED = "retired"


class ModelCheckpoint(models.Model):
    """A trainer checkpoint directory and what is known of it.

    A checkpoint belongs to the project whose flywheel trained or deployed it (engine.flywheel.deploy
    scopes deployment by it); one registered without a project is shared by every project's suite.
    """

    name = models.CharField(max_length=200, unique=True)
    path = models.CharField(max_length=500, help_text="Checkpoint directory (model.safetensors, manifest.json).")
    stage = models.CharField(max_length=16, help_text="pretrain, sft, dpo or distill.")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    sha256 = models.CharField(max_length=64, blank=True)
    config = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=CheckpointStatus.choices, default=CheckpointStatus.TRAINED)
    iteration = models.ForeignKey(Iteration, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    project = models.ForeignKey(
        "core.Project", null=True, blank=True, on_delete=models.CASCADE, related_name="checkpoints",
        help_text="The project whose flywheel deploys, retires and trains from it; empty: shared, in every project's suite.")
    created_at = models.DateTimeField(auto_now_add=True)
    promoted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        if self.project_id is None and self.iteration_id is not None:  # a checkpoint of an iteration is its project's
            self.project_id = Iteration.objects.values_list("project_id", flat=True).get(pk=self.iteration_id)
        super().save(*args, **kwargs)


class RunStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class RunStep(models.TextChoices):
    COLLECT = "collect"
    AGGREGATE = "aggregate", "aggregate and filter"
    SFT = "sft"
    DPO = "dpo"
    EVALUATE = "evaluate"
    PROMOTE = "promote"
    REDEPLOY = "redeploy", "redeploy and tail"
    DONE = "done"


class Decision(models.TextChoices):
    PROMOTED = "promoted"
    KEPT = "kept", "kept the deployed checkpoint"


class FlywheelRun(models.Model):
    """Iteration k of Algorithm 1 as one run: collect, aggregate, SFT, DPO, evaluate, promote, redeploy."""

    project = models.ForeignKey("core.Project", related_name="flywheel_runs", on_delete=models.CASCADE)
    iteration = models.ForeignKey(Iteration, related_name="flywheel_runs", on_delete=models.CASCADE,
                                  help_text="Iteration k whose collection is trained on.")
    next_iteration = models.ForeignKey(Iteration, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                       help_text="Iteration k+1, opened by the redeploy step.")
    alpha = models.FloatField(help_text="α_k: the export keeps winners rated r ≥ α_k from iterations 1..k.")
    status = models.CharField(max_length=8, choices=RunStatus.choices, default=RunStatus.QUEUED)
    step = models.CharField(max_length=10, choices=RunStep.choices, default=RunStep.COLLECT)
    options = models.JSONField(default=dict, blank=True, help_text="preset, steps, seeds, simulate, … as asked.")
    job_id = models.CharField(max_length=64, blank=True, help_text="RQ job id (empty when run in-process).")
    counts = models.JSONField(default=dict, blank=True,
                              help_text="Objects per status and sets per status of iteration k; export rows.")
    acceptance_rate = models.FloatField(null=True, blank=True, help_text="Sets accepted (r ≥ α) / sets rated.")
    generator_yield = models.JSONField(default=list, blank=True, help_text="Per generator: sets, wins, share.")
    annotation_seconds = models.JSONField(default=dict, blank=True,
                                          help_text="Seconds spent per stage, people and simulated apart.")
    export_dir = models.CharField(max_length=500, blank=True)
    baseline = models.ForeignKey(ModelCheckpoint, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                 help_text="The deployed checkpoint training started from (π_{k-1}).")
    sft_checkpoint = models.ForeignKey(ModelCheckpoint, null=True, blank=True, on_delete=models.SET_NULL,
                                       related_name="+")
    checkpoint = models.ForeignKey(ModelCheckpoint, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", help_text="π_k: the DPO result.")
    metrics_before = models.JSONField(default=dict, blank=True, help_text="The baseline's held-out metrics.")
    metrics_after = models.JSONField(default=dict, blank=True, help_text="π_k's held-out metrics.")
    comparison = models.JSONField(default=dict, blank=True,
                                  help_text="`trainer compare`: paired deltas, their SEs, preference accuracy.")
    decision = models.CharField(max_length=10, choices=Decision.choices, blank=True)
    reason = models.TextField(blank=True, help_text="Why the rule promoted π_k or kept the deployed one.")
    progress = models.JSONField(default=dict, blank=True,
                                help_text="Live trainer progress: stage, step, steps, loss, rewards/*.")
    step_seconds = models.JSONField(default=dict, blank=True, help_text="Wall time per step.")
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"flywheel run {self.pk} of {self.iteration}"


class DeploymentAction(models.TextChoices):
    PROMOTE = "promote"
    RETIRE = "retire"
    ROLLBACK = "rollback"
    RESTORE = "restore"


class DeploymentEvent(models.Model):
    """One change of the deployed checkpoints, so a rollback knows what came before."""

    project = models.ForeignKey("core.Project", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    checkpoint = models.ForeignKey(ModelCheckpoint, on_delete=models.CASCADE, related_name="deployment_events")
    action = models.CharField(max_length=8, choices=DeploymentAction.choices)
    reason = models.TextField(blank=True)
    run = models.ForeignKey(FlywheelRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="events")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        when = f" on {self.created_at:%Y-%m-%d %H:%M}" if self.created_at else ""
        return f"{self.get_action_display()} checkpoint {self.checkpoint_id}{when}"
