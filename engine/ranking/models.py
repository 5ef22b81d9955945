"""Stage 2: a pairwise tournament over a candidate set, and every comparison in it."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from engine.candidates.models import Candidate, CandidateSet
from engine.leases.models import Task


class Answer(models.TextChoices):
    LEFT = "left"
    RIGHT = "right"
    EQUAL = "equal"


class RankingSession(models.Model):
    """One annotator's pass over a candidate set; winner and rejected set derive from comparisons."""

    task = models.ForeignKey(Task, related_name="rankings", on_delete=models.CASCADE)
    candidate_set = models.ForeignKey(CandidateSet, related_name="sessions", on_delete=models.CASCADE)
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="rankings")
    order = models.JSONField(help_text="Candidate ids in the randomized order they are shown.")
    seed = models.BigIntegerField(help_text="Seeds the order and the Equal tie-breaks.")
    rating = models.FloatField(null=True, blank=True, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])
    rubric = models.JSONField(default=dict, blank=True)
    failure_category = models.CharField(max_length=32, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    rated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        # A re-claimed task (expired lease) starts a fresh session for the new annotator.
        constraints = [models.UniqueConstraint(fields=["task", "annotator"], name="ranking_unique_annotator")]

    def __str__(self):
        return f"ranking {self.pk} of {self.candidate_set}"


class Comparison(models.Model):
    """One answer: which of two shown candidates is better."""

    session = models.ForeignKey(RankingSession, related_name="comparisons", on_delete=models.CASCADE)
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="comparisons")
    position = models.PositiveSmallIntegerField(help_text="0 for the first comparison of the session.")
    left = models.ForeignKey(Candidate, related_name="+", on_delete=models.CASCADE)
    right = models.ForeignKey(Candidate, related_name="+", on_delete=models.CASCADE)
    answer = models.CharField(max_length=5, choices=Answer.choices)
    kept = models.ForeignKey(Candidate, related_name="+", on_delete=models.CASCADE)
    tie_break = models.BooleanField(default=False, help_text="Equal: the kept one was drawn at random.")
    seconds = models.FloatField(default=0.0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["session_id", "position"]
        constraints = [models.UniqueConstraint(fields=["session", "position"], name="comparison_unique_position")]

    def __str__(self):
        return (f"comparison {self.position} of ranking {self.session_id}: {self.left_id} vs {self.right_id}, "
                f"{self.answer}")
