"""Projects and their iterations of the flywheel."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from engine.intake.taxonomy import default_taxonomy_slugs


class Project(models.Model):
    """A body of images annotated under one quality bar and one category taxonomy."""

    name = models.CharField(max_length=200, unique=True)
    alpha = models.FloatField(
        default=0.5,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Quality bar α: a Stage 2 winner rated r ≥ α goes on to alignment.",
    )
    n_candidates = models.PositiveSmallIntegerField(
        default=8, validators=[MinValueValidator(1), MaxValueValidator(64)],
        help_text="Candidates proposed per object for Stage 2.",
    )
    taxonomy = models.JSONField(
        default=default_taxonomy_slugs,
        help_text="Category slugs allowed in this project (a subset of the shipped taxonomy).",
    )
    route_failures = models.BooleanField(
        default=True, help_text="Send sets rated below α to the Stage 2.5 artist queue."
    )
    ranking_overlap = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(10)],
        help_text="Annotators who rank each candidate set independently (agreement studies).",
    )
    generators = models.JSONField(
        default=list, blank=True,
        help_text="Generator names to run for this project; empty means every available one.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.name

    def current_iteration(self):
        """Return the open iteration of this project, creating iteration 1 on first use."""
        iteration = self.iterations.filter(closed_at__isnull=True).order_by("-number").first()
        if iteration is None:
            iteration, _ = Iteration.objects.get_or_create(
                project=self, number=(self.iterations.aggregate(m=models.Max("number"))["m"] or 0) + 1,
                defaults={"alpha": self.alpha},
            )
        return iteration


class Iteration(models.Model):
    """Iteration k of the flywheel, with its own quality bar α_k."""

    project = models.ForeignKey(Project, related_name="iterations", on_delete=models.CASCADE)
    number = models.PositiveIntegerField()
    alpha = models.FloatField(validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])
    notes = models.TextField(blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["project_id", "number"]
        constraints = [models.UniqueConstraint(fields=["project", "number"], name="iteration_unique_number")]

    def __str__(self):
        return f"{self.project} #{self.number}"
