"""One table of work items for every stage, each claimed under a lease."""

from django.conf import settings
from django.db import models

from engine.core.models import Project
from engine.leases import registry


class Stage(models.TextChoices):
    """The stages this project ships, by name; Task.stage takes any registered stage (registry.choices)."""

    SELECT = "select", "Stage 1: select objects"
    RANK = "rank", "Stage 2: rank candidates"
    ARTIST = "artist", "Stage 2.5: artist mesh"
    ALIGN = "align", "Stage 3: align pose"


STAGE_NAME_LENGTH = 8


class TaskStatus(models.TextChoices):
    OPEN = "open"
    LEASED = "leased"
    DONE = "done"
    CANCELLED = "cancelled"


class Task(models.Model):
    """A unit of annotation work; `lease_*` say who holds it and until when."""

    project = models.ForeignKey(Project, related_name="tasks", on_delete=models.CASCADE)
    stage = models.CharField(max_length=STAGE_NAME_LENGTH, choices=registry.choices)
    status = models.CharField(max_length=10, choices=TaskStatus.choices, default=TaskStatus.OPEN)
    image = models.ForeignKey("intake.Image", null=True, blank=True, on_delete=models.CASCADE, related_name="tasks")
    object = models.ForeignKey(
        "intake.ObjectInstance", null=True, blank=True, on_delete=models.CASCADE, related_name="tasks"
    )
    candidate_set = models.ForeignKey(
        "candidates.CandidateSet", null=True, blank=True, on_delete=models.CASCADE, related_name="tasks"
    )
    priority = models.IntegerField(default=0, help_text="Higher is served first.")
    balance_key = models.PositiveIntegerField(
        default=0, help_text="Served in ascending order before id; interleaves categories of artist cases."
    )
    lease_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="leased_tasks"
    )
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    claims = models.PositiveIntegerField(default=0, help_text="How many times the task was claimed.")
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="completed_tasks"
    )
    completed_at = models.DateTimeField(null=True, blank=True)
    seconds_spent = models.FloatField(default=0.0)
    submit_key = models.CharField(max_length=100, blank=True, help_text="Idempotency key of the accepted submit.")
    submit_response = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            # The claim's WHERE and ORDER BY, so the first free row is read off the index.
            models.Index(fields=["project", "stage", "status", "balance_key", "-priority", "id"], name="task_queue_idx"),
            models.Index(fields=["lease_expires_at"], name="task_lease_idx"),
            models.Index(fields=["object", "stage"], name="task_object_idx"),
        ]

    def __str__(self):
        return f"{self.stage} task {self.pk} ({self.status})"


class Skip(models.Model):
    """A task someone gave back because they could not do it: not served to them again until `until`."""

    task = models.ForeignKey(Task, related_name="skips", on_delete=models.CASCADE)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, related_name="skips", on_delete=models.CASCADE)
    until = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["task", "user"], name="skip_once_per_user")]

    def __str__(self):
        return f"{self.user} skips task {self.task_id} until {self.until:%Y-%m-%d %H:%M}"
