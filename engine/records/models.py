"""The training records the stages write and the flywheel reads: samples D+ and preference pairs (D+, D−).

They sit below the stages so that a stage writes its records in its submit's transaction without
importing the flywheel. The tables keep the names they had in the flywheel app (Meta.db_table):
moving the models moved no data (migrations/records/0001_initial.py).
"""

from django.db import models

from engine.candidates.models import MODEL_KINDS, Candidate, GeneratorKind
from engine.core.models import Iteration
from engine.intake.models import ObjectInstance

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
    checkpoint = models.ForeignKey("flywheel.ModelCheckpoint", null=True, blank=True, on_delete=models.SET_NULL)
    rotation = models.JSONField(help_text="Unit quaternion [w, x, y, z].")
    translation = models.JSONField()
    scale = models.FloatField()
    rating = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "flywheel_trainingsample"
        ordering = ["id"]

    def __str__(self):
        return f"sample {self.pk} of object {self.object_id} ({self.source} {self.generator}, r = {self.rating:.2f})"


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
        db_table = "flywheel_preferencepair"
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["object", "iteration", "rejected"], name="pair_unique_rejected"),
        ]

    @property
    def rejected_is_model(self):
        return self.rejected_source in MODEL_KINDS

    def __str__(self):
        return f"pair {self.pk} of object {self.object_id}: {self.chosen_generator} over {self.rejected_generator}"
