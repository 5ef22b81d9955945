"""Quality control: gold standards with known answers, the gold copies served from them, and review flags.

A gold standard is one object's known answer for a stage (Stage 2: the acceptable winners of its
candidate set and whether the best is good enough; Stage 3: the pose). It comes from a
composite's hidden truth (`manage.py gold`) or from a completed task an engineer marks as gold.
A gold copy is a task served from it like any other, at the project's `gold_rate`, whose answer
is scored instead of routed. A review flag holds a submit made faster than a person can work.
"""

from django.conf import settings
from django.db import models

from engine.core.models import Project


class GoldSource(models.TextChoices):
    SIMULATION = "simulation", "a composite's hidden truth"
    ENGINEER = "engineer", "a completed task an engineer marked as gold"


class GoldStandard(models.Model):
    """The known answer of one object for one stage, served again as gold copies."""

    project = models.ForeignKey(Project, related_name="gold_standards", on_delete=models.CASCADE)
    stage = models.CharField(max_length=8, help_text="rank or align (a value of leases.models.Stage).")
    object = models.ForeignKey("intake.ObjectInstance", related_name="gold_standards", on_delete=models.CASCADE)
    candidate_set = models.ForeignKey("candidates.CandidateSet", related_name="+", on_delete=models.CASCADE)
    # Stage 3: the mesh the copies align (a candidate or an artist's mesh).
    candidate = models.ForeignKey("candidates.Candidate", null=True, blank=True, related_name="+",
                                  on_delete=models.CASCADE)
    artist_mesh = models.ForeignKey("artists.ArtistMesh", null=True, blank=True, related_name="+",
                                    on_delete=models.CASCADE)
    answer = models.JSONField(help_text="rank: {winners: [candidate ids], accept: bool|null}; "
                                        "align: {rotation: [w,x,y,z], translation, scale, rotation_check}.")
    source = models.CharField(max_length=12, choices=GoldSource.choices)
    origin_task = models.OneToOneField("leases.Task", null=True, blank=True, related_name="gold_standard",
                                       on_delete=models.SET_NULL, help_text="The task an engineer marked as gold.")
    active = models.BooleanField(default=True, help_text="Served as gold copies.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, related_name="+",
                                   on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["object", "stage", "source"], condition=models.Q(
            source="simulation"), name="gold_once_per_truth")]

    def __str__(self):
        return f"gold {self.stage} answer of object {self.object_id} ({self.source})"


class GoldCopy(models.Model):
    """A task served from a gold standard, and how its answer scored."""

    task = models.OneToOneField("leases.Task", related_name="gold_copy", on_delete=models.CASCADE)
    gold = models.ForeignKey(GoldStandard, related_name="copies", on_delete=models.CASCADE)
    answered_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, related_name="+",
                                    on_delete=models.SET_NULL)
    passed = models.BooleanField(null=True, help_text="Null until answered.")
    result = models.JSONField(default=dict, blank=True, help_text="What was answered and how far it was off.")
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        state = "unanswered" if self.passed is None else ("passed" if self.passed else "failed")
        return f"gold copy {self.task_id} of {self.gold} ({state})"


class FlagStatus(models.TextChoices):
    OPEN = "open", "waiting for review"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class FlagReason(models.TextChoices):
    TOO_FAST = "too_fast", "faster than a person can work"
    UNCHANGED_POSE = "unchanged_pose", "the pose served, submitted unchanged"


class ReviewFlag(models.Model):
    """A submit an engineer must look at before its work counts."""

    task = models.ForeignKey("leases.Task", related_name="review_flags", on_delete=models.CASCADE)
    project = models.ForeignKey(Project, related_name="review_flags", on_delete=models.CASCADE)
    stage = models.CharField(max_length=8)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, related_name="review_flags",
                             on_delete=models.SET_NULL, help_text="Who submitted.")
    reasons = models.JSONField(help_text="FlagReason values.")
    detail = models.JSONField(default=dict, blank=True, help_text="The figures behind the reasons.")
    status = models.CharField(max_length=10, choices=FlagStatus.choices, default=FlagStatus.OPEN)
    outcome = models.JSONField(default=dict, blank=True, help_text="What the review decision did.")
    note = models.TextField(blank=True)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, related_name="+",
                                    on_delete=models.SET_NULL)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["project", "status"], name="reviewflag_queue_idx")]

    def __str__(self):
        return f"{self.stage} task {self.task_id} by user {self.user_id}: {', '.join(self.reasons)} ({self.status})"
