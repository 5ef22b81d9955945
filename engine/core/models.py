"""Projects and their iterations of the flywheel; the first answers to requests sent with an Idempotency-Key."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from engine.intake.curriculum import CurriculumError, groups_of
from engine.intake.taxonomy import default_taxonomy_slugs


def check_taxonomy(value):
    """Raise ValidationError unless `value` is a non-empty list of the shipped taxonomy's category slugs."""
    if not isinstance(value, list) or not value:
        raise ValidationError("Give a non-empty list of category slugs.")
    unknown = sorted(set(map(str, value)) - set(default_taxonomy_slugs()))
    if unknown:
        raise ValidationError(f"Unknown categories: {', '.join(unknown)}. See GET /api/categories/.")


def check_alpha_schedule(value):
    """Raise ValidationError unless `value` is a list of rising quality bars α_1 ≤ α_2 ≤ … in [0, 1]."""
    if not isinstance(value, list) or not all(isinstance(a, int | float) and not isinstance(a, bool) for a in value):
        raise ValidationError("Give a list of numbers α_1, α_2, … (an empty list uses the project's α).")
    if any(not 0 <= a <= 1 for a in value):
        raise ValidationError(f"Each α_k is a rating bar between 0 and 1, got {value}.")
    if any(b < a for a, b in zip(value, value[1:])):
        raise ValidationError(f"The curriculum rises: α_1 ≤ α_2 ≤ …, got {value}.")


def check_curriculum(value):
    """Raise ValidationError unless `value` is a list of groups {group, categories?, target?}, simplest first."""
    try:
        groups_of(value, default_taxonomy_slugs(), 1)
    except CurriculumError as exc:
        raise ValidationError(str(exc)) from None


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
    # The flywheel (engine.flywheel.iteration): how iterations are trained, judged and fed.
    alpha_schedule = models.JSONField(
        default=list, blank=True, validators=[check_alpha_schedule],
        help_text="Training bars α_1 ≤ α_2 ≤ … of iterations 1, 2, … (the last holds after; empty: α). "
                  "An iteration's export keeps the winners rated r ≥ α_k.",
    )
    collection_target = models.PositiveIntegerField(
        default=100, validators=[MinValueValidator(1)],
        help_text="Training samples (objects through Stage 3 or an artist) an iteration aims to collect.",
    )
    tail_share = models.FloatField(
        default=0.2, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Share of the next collection that re-offers objects failed in earlier iterations.",
    )
    best_of = models.PositiveSmallIntegerField(
        default=0, validators=[MaxValueValidator(64)],
        help_text="Best-of-N for every candidate set: our model samples this many and its candidates are the best of "
                  "them, ranked by their fit to the library's shapes of the object's category "
                  "(model_suite.category_fit); 0 leaves the suite's setting.",
    )
    tail_best_of = models.PositiveSmallIntegerField(
        default=8, validators=[MaxValueValidator(64)],
        help_text="Best-of-N for a re-offered failure: our model samples this many and its candidates are the best "
                  "of them (the push into the tail); 0 leaves the suite's setting.",
    )
    checkpoints_deployed = models.PositiveSmallIntegerField(
        default=2, validators=[MinValueValidator(1), MaxValueValidator(8)],
        help_text="Promoted checkpoints kept in the suite at once (2: the new one beside the previous).",
    )
    promote_metric = models.CharField(
        max_length=16, default="viou",
        help_text="Held-out metric the promotion rule reads (a metric of `trainer compare`).",
    )
    promote_max_drop_se = models.FloatField(
        default=2.0, validators=[MinValueValidator(0.0)],
        help_text="Promote only if the paired difference on promote_metric is not worse than this many "
                  "standard errors (not worse beyond noise).",
    )
    promote_tolerance = models.FloatField(
        default=0.005, validators=[MinValueValidator(0.0)],
        help_text="A paired difference smaller than this counts as no change, whatever its SE (a few "
                  "training steps move vIoU by 1e-6 with an SE of 1e-6: noise of the sampler, not a loss).",
    )
    promote_min_preference = models.FloatField(
        default=0.5, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="The held-out preference accuracy's bar: above it beyond noise is evidence to promote, below it "
                  "beyond noise keeps the deployed checkpoint (engine/flywheel/rules.py).",
    )
    # The curriculum over categories (engine.intake.curriculum): the order the claims follow.
    curriculum = models.JSONField(
        default=list, blank=True, validators=[check_curriculum],
        help_text="Groups of categories, simplest first: [{group, categories, target}, …]; a later group gets a "
                  "growing share of the work as the earlier ones reach their targets (training samples). Empty: "
                  "the published order (simple rigid, structured, deformable), each with collection_target.",
    )
    curriculum_floor = models.FloatField(
        default=0.005, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Share of the claims every category of the taxonomy keeps whatever the curriculum says, so "
                  "long-tail categories are never starved (at most 1 / the number of categories).",
    )
    curriculum_state = models.JSONField(
        default=dict, blank=True, editable=False,
        help_text="The category shares the waiting tasks' priorities were last set from, and when.",
    )
    # Quality control (engine.quality): gold tasks, overlap copies and fast-submit review.
    gold_rate = models.FloatField(
        default=0.0, validators=[MinValueValidator(0.0), MaxValueValidator(0.5)],
        help_text="Share of the Stage 2 and Stage 3 tasks served that are gold copies with a known answer "
                  "(0: none). Gold answers come from `manage.py gold` or an engineer marking a task as gold.",
    )
    overlap_rate = models.FloatField(
        default=0.0, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Share of candidate sets ranked by two annotators (when ranking_overlap is 1), for agreement.",
    )
    review_min_compare_seconds = models.FloatField(
        default=0.3, validators=[MinValueValidator(0.0)],
        help_text="A Stage 2 answer given faster than this after the previous one is too fast for a person; a "
                  "ranking with half of its answers that fast is held for review (0: no check).",
    )
    review_min_align_seconds = models.FloatField(
        default=2.0, validators=[MinValueValidator(0.0)],
        help_text="A Stage 3 pose submitted sooner than this after the claim, or unchanged from the pose "
                  "served, is flagged for review and kept out of exports until an engineer accepts it.",
    )
    # Stage 2.5 routing (engine.artists.triage): which failures artists get.
    artist_share = models.FloatField(
        default=1.0, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Share of the Stage 2 failures sent to artists at most (1: all). The rest stay failed, for the "
                  "flywheel to re-offer, or linked to a look-alike an artist has.",
    )
    artist_cluster_distance = models.FloatField(
        default=0.0, validators=[MinValueValidator(0.0), MaxValueValidator(2.0)],
        help_text="Failures closer than this (image, shape and description features, a cosine distance in "
                  "[0, 2]) form one cluster, whose representatives alone go to artists (0: no clustering).",
    )
    artist_representatives = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(10)],
        help_text="Failures of one cluster that go to artists; the rest are linked to the first.",
    )
    artist_mesh_serves_cluster = models.BooleanField(
        default=False,
        help_text="An artist's mesh for a representative also goes to Stage 3 for the linked look-alikes.",
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
        if self.curriculum_floor * len(self.taxonomy) > 1:
            raise ValidationError({"curriculum_floor": [f"A floor of {self.curriculum_floor} for each of "
                                                        f"{len(self.taxonomy)} categories adds up to more than the whole."]})

    def current_iteration(self):
        """Return the open iteration of this project, creating iteration 1 on first use."""
        iteration = self.iterations.filter(closed_at__isnull=True).order_by("-number").first()
        if iteration is None:
            number = (self.iterations.aggregate(m=models.Max("number"))["m"] or 0) + 1
            iteration, _ = Iteration.objects.get_or_create(
                project=self, number=number,
                defaults={"alpha": self.alpha_for(number)},
            )
        return iteration

    def alpha_for(self, number):
        """Return α_k of iteration `number` from the schedule (its last value beyond it), else α."""
        if not self.alpha_schedule:
            return self.alpha
        return float(self.alpha_schedule[min(number, len(self.alpha_schedule)) - 1])


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
