"""Images and the objects annotators select in them (Stage 1)."""

from django.conf import settings
from django.db import models

from engine.core.models import Project


def image_path(instance, filename):
    return f"images/{instance.project_id}/{filename}"


def depth_path(instance, filename):
    return f"depth/{instance.project_id}/{filename}"


class Image(models.Model):
    """A photograph ingested into a project, with its quality checks."""

    project = models.ForeignKey(Project, related_name="images", on_delete=models.CASCADE)
    file = models.ImageField(upload_to=image_path)
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    sha256 = models.CharField(max_length=64)
    source_dataset = models.CharField(max_length=100, blank=True)
    source_id = models.CharField(max_length=200, blank=True)
    quality_ok = models.BooleanField(default=True)
    quality_reason = models.CharField(max_length=300, blank=True)
    blur_variance = models.FloatField(default=0.0)
    contrast = models.FloatField(default=0.0)
    # Optional 2.5D data: a depth (metres) or point map, intrinsics, and the derived point cloud.
    depth = models.FileField(upload_to=depth_path, blank=True)
    intrinsics = models.JSONField(null=True, blank=True, help_text="fx, fy, cx, cy in pixels.")
    point_cloud = models.FileField(upload_to=depth_path, blank=True)
    depth_source = models.CharField(
        max_length=100, blank=True,
        help_text="Where the depth came from: 'upload' (sensor or stereo, given at ingest) or 'estimated:NAME' "
                  "(the monocular estimator NAME); empty without depth.",
    )
    ingested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    ingested_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["project", "sha256"], name="image_unique_per_project")]

    def __str__(self):
        return f"image {self.pk} ({self.source_dataset}:{self.source_id})"


# Why an annotator may flag an image in Stage 1 instead of selecting objects in it.
FLAG_REASONS = {
    "blurry": "too blurry or too dark to see the objects",
    "no_objects": "no object worth a 3D shape",
    "duplicate": "a duplicate of another image",
    "inappropriate": "private or inappropriate content",
    "other": "other",
}


class ObjectStatus(models.TextChoices):
    PROPOSED = "proposed", "imported, awaiting review in Stage 1"
    REJECTED = "rejected", "imported, rejected in Stage 1 review"
    SELECTED = "selected", "selected (Stage 1)"
    GENERATING = "generating", "candidates being generated"
    RANKING = "ranking", "in Stage 2"
    ARTIST = "artist", "in the artist queue (Stage 2.5)"
    ALIGNING = "aligning", "in Stage 3"
    DONE = "done", "training sample"
    FAILED = "failed", "failed, not routed"


class ObjectInstance(models.Model):
    """An object chosen in an image: its mask, category and description."""

    image = models.ForeignKey(Image, related_name="instances", on_delete=models.CASCADE)
    mask_rle = models.JSONField(help_text="Row-major run-length encoding; see engine.intake.masks.")
    area = models.PositiveIntegerField()
    bbox = models.JSONField(help_text="[x0, y0, x1, y1] in pixels.")
    multi_region = models.BooleanField(default=False, help_text="The annotator confirmed a split mask.")
    category = models.CharField(max_length=64)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=ObjectStatus.choices, default=ObjectStatus.SELECTED)
    selected_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    selected_at = models.DateTimeField(auto_now_add=True)
    seconds_spent = models.FloatField(default=0.0)
    # Imported annotations (engine/intake/importing.py): where the proposal came from, and the key
    # that makes a re-import of it create nothing.
    source = models.CharField(max_length=300, blank=True,
                              help_text="'DATASET#ANNOTATION_ID (CATEGORY NAME)' of an imported proposal; empty when drawn.")
    import_key = models.CharField(max_length=64, blank=True,
                                  help_text="sha256 of the category and mask of an imported proposal.")
    edited = models.BooleanField(default=False,
                                 help_text="The reviewer changed the imported proposal's mask or category.")

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["status"])]
        constraints = [models.UniqueConstraint(fields=["image", "import_key"], condition=~models.Q(import_key=""),
                                               name="object_imported_once")]

    def __str__(self):
        return f"object {self.pk} ({self.category})"

    @property
    def project(self):
        return self.image.project
