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
