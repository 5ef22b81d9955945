"""Stage 3: a mesh posed in the camera frame of its image.

Camera convention (used everywhere in the product): OpenCV camera coordinates, x right,
y down, z forward (metres where depth is metric). A mesh lives in its object frame,
normalized to the unit cube centred at the origin, and is placed by
    p_cam = scale * R @ p_obj + t
with R given as a unit quaternion [w, x, y, z] (or a 3x3 matrix in the API).
"""

from django.conf import settings
from django.db import models

from engine.artists.models import ArtistMesh
from engine.candidates.models import Candidate
from engine.leases.models import Task


class Alignment(models.Model):
    """What is aligned in a Stage 3 task, and the submitted pose."""

    task = models.OneToOneField(Task, related_name="alignment", on_delete=models.CASCADE)
    candidate = models.ForeignKey(Candidate, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    artist_mesh = models.ForeignKey(ArtistMesh, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    rating = models.FloatField(help_text="The Stage 2 rating r of this mesh (1.0 for artist meshes).")
    rotation = models.JSONField(null=True, blank=True, help_text="Unit quaternion [w, x, y, z].")
    translation = models.JSONField(null=True, blank=True)
    scale = models.FloatField(null=True, blank=True)
    seconds = models.FloatField(default=0.0)
    aligned_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    aligned_at = models.DateTimeField(null=True, blank=True)
    initial_pose = models.JSONField(
        null=True, blank=True,
        help_text="The pose the page starts from, fitted when the task opened (engine/alignment/fitting.py): "
                  '{"R": 3x3, "t": [3], "s", "source", "iou", "seconds"}; null until fitted.')

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(candidate__isnull=False) | models.Q(artist_mesh__isnull=False),
                name="alignment_has_mesh",
            )
        ]

    @property
    def mesh_file(self):
        return self.candidate.mesh if self.candidate_id else self.artist_mesh.mesh

    def __str__(self):
        mesh = f"artist mesh {self.artist_mesh_id}" if self.artist_mesh_id else f"candidate {self.candidate_id}"
        return f"alignment of {mesh} (task {self.task_id}, {'posed' if self.aligned_at else 'not posed yet'})"
