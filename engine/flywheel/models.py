"""Training data produced by the engine, and the checkpoints trained on it."""

from django.db import models

from engine.candidates.models import MODEL_KINDS, Candidate, GeneratorKind
from engine.core.models import Iteration
from engine.intake.models import ObjectInstance


class CheckpointStatus(models.TextChoices):
    TRAINED = "trained"
    EVALUATED = "evaluated"
    PROMOTED = "promoted"
    RETIRED = "retired"


class ModelCheckpoint(models.Model):
    """A trainer checkpoint directory and what is known of it."""

    name = models.CharField(max_length=200, unique=True)
    path = models.CharField(max_length=500, help_text="Checkpoint directory (model.safetensors, manifest.json).")
    stage = models.CharField(max_length=16, help_text="pretrain, sft, dpo or distill.")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    sha256 = models.CharField(max_length=64, blank=True)
    config = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=CheckpointStatus.choices, default=CheckpointStatus.TRAINED)
    iteration = models.ForeignKey(Iteration, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    promoted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.name


# A sample's source is the kind of generator that made its mesh ("artist" for uploads).
SampleSource = GeneratorKind


class TrainingSample(models.Model):
    """D+ = (image, mask, mesh, R, t, s, r, source) for one object of one iteration."""

    object = models.ForeignKey(ObjectInstance, related_name="samples", on_delete=models.CASCADE)
    iteration = models.ForeignKey(Iteration, related_name="samples", on_delete=models.CASCADE)
    alignment = models.OneToOneField("alignment.Alignment", on_delete=models.CASCADE, related_name="sample")
    mesh = models.CharField(max_length=500, help_text="Storage name of the mesh file.")
    source = models.CharField(max_length=12, choices=SampleSource.choices)
    generator = models.CharField(max_length=64)
    checkpoint = models.ForeignKey(ModelCheckpoint, null=True, blank=True, on_delete=models.SET_NULL)
    rotation = models.JSONField(help_text="Unit quaternion [w, x, y, z].")
    translation = models.JSONField()
    scale = models.FloatField()
    rating = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]


class PreferencePair(models.Model):
    """A chosen and a rejected mesh for the same image and mask."""

    object = models.ForeignKey(ObjectInstance, related_name="pairs", on_delete=models.CASCADE)
    iteration = models.ForeignKey(Iteration, related_name="pairs", on_delete=models.CASCADE)
    chosen_candidate = models.ForeignKey(Candidate, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    chosen_artist_mesh = models.ForeignKey(
        "artists.ArtistMesh", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    rejected = models.ForeignKey(Candidate, on_delete=models.CASCADE, related_name="+")
    chosen_source = models.CharField(max_length=12, choices=SampleSource.choices)
    rejected_source = models.CharField(max_length=12, choices=SampleSource.choices)
    chosen_generator = models.CharField(max_length=64)
    rejected_generator = models.CharField(max_length=64)
    rating = models.FloatField(help_text="Rating of the chosen side (1.0 for an artist mesh).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["object", "iteration", "rejected"], name="pair_unique_rejected"),
        ]

    @property
    def rejected_is_model(self):
        return self.rejected_source in MODEL_KINDS
