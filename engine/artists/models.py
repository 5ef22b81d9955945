"""Stage 2.5: hard cases no proposer got right, and the meshes artists upload for them."""

from django.conf import settings
from django.db import models

from engine.candidates.models import Candidate, CandidateSet
from engine.leases.models import Task


class FailureCategory(models.TextChoices):
    COMPLEX_GEOMETRY = "complex_geometry", "complex geometry"
    OCCLUSION = "occlusion"
    TRANSPARENCY = "transparency"
    SMALL_OBJECT = "small_object", "small object"
    OTHER = "other"
    # Stage 2's own answer "none of these is this object" (rated 0): the proposers missed the object itself.
    NO_MATCH = "no_match", "none of the candidates is this object"


# What an annotator names as the reason a set fell below α; NO_MATCH is an answer of its own, not among them.
REASONS_BELOW_BAR = [(value, label) for value, label in FailureCategory.choices if value != FailureCategory.NO_MATCH]


class ArtistCase(models.Model):
    """Why a set failed and what the artist starts from."""

    task = models.OneToOneField(Task, related_name="artist_case", on_delete=models.CASCADE)
    candidate_set = models.ForeignKey(CandidateSet, related_name="artist_cases", on_delete=models.CASCADE)
    best_candidate = models.ForeignKey(Candidate, null=True, on_delete=models.SET_NULL, related_name="+")
    failure_category = models.CharField(max_length=32, choices=FailureCategory.choices)
    rating = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"artist case {self.pk}: {self.get_failure_category_display()}, rated {self.rating:.2f} (task {self.task_id})"


def artist_path(instance, filename):
    return f"artist/{instance.case_id}/{filename}"


class ArtistMesh(models.Model):
    """A validated upload: the original file and its browser GLB."""

    case = models.ForeignKey(ArtistCase, related_name="meshes", on_delete=models.CASCADE)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    original = models.FileField(upload_to=artist_path)
    mesh = models.FileField(upload_to=artist_path, help_text="Normalized binary glTF.")
    format = models.CharField(max_length=8)
    vertices = models.PositiveIntegerField()
    triangles = models.PositiveIntegerField()
    size_bytes = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    submitted = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"artist mesh {self.pk} of case {self.case_id} ({self.format}, {self.triangles:,} triangles)"


class FailureOutcome(models.TextChoices):
    ARTIST = "artist", "sent to an artist"
    LINKED = "linked", "linked to a look-alike sent to an artist"
    HELD = "held", "over the artist share: stays failed, for the flywheel to re-offer"
    SERVED = "served", "aligned with the artist mesh of its look-alike"


class FailureCluster(models.Model):
    """Look-alike failures of a project: within the project's artist_cluster_distance of their first member."""

    project = models.ForeignKey("core.Project", related_name="failure_clusters", on_delete=models.CASCADE)
    features = models.BinaryField(help_text="float32 features of the first member (engine/artists/triage.py).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"failure cluster {self.pk} of {self.project}"


class Failure(models.Model):
    """A candidate set rated below α, as artist triage saw it: its features, its cluster and where it went."""

    project = models.ForeignKey("core.Project", related_name="failures", on_delete=models.CASCADE)
    candidate_set = models.OneToOneField(CandidateSet, related_name="failure", on_delete=models.CASCADE)
    object = models.ForeignKey("intake.ObjectInstance", related_name="failures", on_delete=models.CASCADE)
    best_candidate = models.ForeignKey(Candidate, null=True, on_delete=models.SET_NULL, related_name="+")
    failure_category = models.CharField(max_length=32, choices=FailureCategory.choices)
    rating = models.FloatField()
    features = models.BinaryField(blank=True, help_text="float32 image, shape and text features; empty unclustered.")
    cluster = models.ForeignKey(FailureCluster, null=True, blank=True, related_name="failures",
                                on_delete=models.SET_NULL)
    distance = models.FloatField(null=True, blank=True, help_text="To the cluster's first member when it joined.")
    outcome = models.CharField(max_length=8, choices=FailureOutcome.choices)
    case = models.OneToOneField(ArtistCase, null=True, blank=True, related_name="failure", on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["project", "outcome"], name="failure_outcome_idx")]

    def __str__(self):
        return f"failure of object {self.object_id} ({self.failure_category}): {self.outcome}"
