"""The hidden truth of a render-paste composite: what the simulated annotators judge against.

Nothing here is reachable through the API: no serializer or view names these rows, and the
true mesh lives in a storage of its own outside MEDIA_ROOT, which the media view serves.
"""

import os
from pathlib import Path

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.db import models


class TruthStorage(FileSystemStorage):
    """Files at SIMULATION_TRUTH_ROOT, else in a folder beside MEDIA_ROOT; the setting is read at each use."""

    @property
    def base_location(self):
        root = getattr(settings, "SIMULATION_TRUTH_ROOT", None)
        if not root:
            media = Path(settings.MEDIA_ROOT)
            root = media.parent / f"{media.name}-simulation-truth"
        return str(root)

    @property
    def location(self):
        return os.path.abspath(self.base_location)


_storage = TruthStorage(base_url=None)


def truth_storage():
    """Return the storage of the true meshes (a callable, so migrations do not record a path)."""
    return _storage


class SimulatedTruth(models.Model):
    """The object rendered into a composite image: its mask, category, mesh and pose."""

    image = models.OneToOneField("intake.Image", related_name="simulated_truth", on_delete=models.CASCADE)
    category = models.CharField(max_length=64, help_text="Taxonomy slug of the rendered shape.")
    caption = models.CharField(max_length=300, blank=True)
    mask_rle = models.JSONField(help_text="Visible pixels of the object, RLE as engine.intake.masks encodes it.")
    mesh = models.FileField(storage=truth_storage, upload_to="truth/",
                            help_text="The true mesh (PLY, unit cube, y up) in the truth storage.")
    shape_id = models.CharField(max_length=120, help_text="procedural:<category>:<seed>:<index> or a library id.")
    rotation = models.JSONField(help_text="3x3 matrix R of p_cam = s R p_obj + t (OpenCV camera).")
    translation = models.JSONField(help_text="t in camera coordinates.")
    scale = models.FloatField()
    seed = models.BigIntegerField(help_text="The seed the composite was drawn from.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"truth of image {self.image_id}: {self.category} {self.shape_id}"
