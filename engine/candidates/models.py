"""Candidate meshes proposed for an object by the model suite."""

from django.db import models

from engine.core.models import Iteration
from engine.intake.models import ObjectInstance


class SetStatus(models.TextChoices):
    GENERATING = "generating"
    READY = "ready", "ready for Stage 2"
    ACCEPTED = "accepted", "winner rated at or above α"
    FAILED = "failed", "winner rated below α"


class GeneratorKind(models.TextChoices):
    MODEL = "model"
    RETRIEVAL = "retrieval"
    LIFTING = "lifting"
    EXTERNAL = "external"
    ARTIST = "artist"


MODEL_KINDS = {GeneratorKind.MODEL, GeneratorKind.EXTERNAL}


class CandidateSet(models.Model):
    """The N candidates proposed for one object in one iteration."""

    object = models.ForeignKey(ObjectInstance, related_name="candidate_sets", on_delete=models.CASCADE)
    iteration = models.ForeignKey(Iteration, related_name="candidate_sets", on_delete=models.CASCADE)
    status = models.CharField(max_length=12, choices=SetStatus.choices, default=SetStatus.GENERATING)
    best_of = models.PositiveSmallIntegerField(
        default=0, help_text="Best-of-N amplification of our model's candidates: sample this many, keep the best "
                             "(0: the suite's setting). The flywheel sets it on the sets of re-offered failures.")
    generator_report = models.JSONField(
        default=dict, blank=True, help_text="Per generator: ok, reason when skipped, seconds."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    ready_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["object", "iteration"], name="candidateset_unique")]

    def __str__(self):
        return f"set {self.pk} of {self.object}"


def candidate_path(instance, filename):
    return f"candidates/{instance.candidate_set_id}/{filename}"


class Candidate(models.Model):
    """One proposed mesh (binary glTF, object frame, unit cube) and where it came from."""

    candidate_set = models.ForeignKey(CandidateSet, related_name="candidates", on_delete=models.CASCADE)
    generator = models.CharField(max_length=64)
    generator_version = models.CharField(max_length=32)
    kind = models.CharField(max_length=12, choices=GeneratorKind.choices)
    checkpoint = models.ForeignKey(
        "flywheel.ModelCheckpoint", null=True, blank=True, on_delete=models.SET_NULL, related_name="candidates"
    )
    seed = models.BigIntegerField()
    mesh = models.FileField(upload_to=candidate_path)
    triangles = models.PositiveIntegerField(default=0)
    size_bytes = models.PositiveIntegerField(default=0)
    seconds = models.FloatField(default=0.0, help_text="Generation time of this candidate.")
    pose = models.JSONField(null=True, blank=True, help_text="Pose proposed by the generator, if any.")
    extra = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        # A retried generation job finds its candidate here instead of adding a duplicate.
        constraints = [
            models.UniqueConstraint(fields=["candidate_set", "generator", "seed"], name="candidate_unique_seed")
        ]

    def __str__(self):
        return f"candidate {self.pk} ({self.generator} seed {self.seed})"
