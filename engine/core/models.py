"""Projects and their iterations of the flywheel; the first answers to requests sent with an Idempotency-Key."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from engine.intake.taxonomy import default_taxonomy_slugs


def check_taxonomy(value):
    """Raise ValidationError unless `value` is a non-empty list of the shipped taxonomy's category slugs."""
    if not isinstance(value, list) or not value:
        raise ValidationError("Give a non-empty list of category slugs.")
    unknown = sorted(set(map(str, value)) - set(default_taxonomy_slugs()))
    if unknown:
        raise ValidationError(f"Unknown categories: {', '.join(unknown)}. See GET /api/categories/.")


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

    def clean(self):
        """Check the taxonomy, as the API's project serializer does (the admin's form checks the generators)."""
        try:
            check_taxonomy(self.taxonomy)
        except ValidationError as exc:
            raise ValidationError({"taxonomy": exc.messages}) from None

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


class IdempotentRequest(models.Model):
    """The first answer to a creating request sent with an Idempotency-Key, which a repeat of it gets again."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=100, help_text="The Idempotency-Key header, unique per user.")
    fingerprint = models.CharField(max_length=64, help_text="sha256 of the method, path and body of the request.")
    request = models.CharField(max_length=200, help_text="Method and path of the request, for error messages.")
    status_code = models.PositiveSmallIntegerField(null=True, help_text="Null while the request is being applied.")
    response = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_once_per_user")]

    def __str__(self):
        return f"{self.request} with key {self.key!r} by user {self.user_id}"
