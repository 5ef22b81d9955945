"""What the simulated annotators know: the truth of each composite, read once and shared by the pool's threads."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings

from engine.intake import masks
from engine.simulation import judging
from engine.simulation.models import SimulatedTruth

MATCH_IOU = 0.5  # an object whose mask overlaps the true mask this much is the composite's object


@dataclass
class TruthView:
    """A SimulatedTruth as the pool uses it: the mask decoded, the mesh sampled on first use."""

    image_id: int
    category: str
    caption: str
    mask_rle: dict
    mask: np.ndarray  # (H, W) bool
    rotation: list
    translation: list
    scale: float
    mesh_name: str
    _points: np.ndarray | None = field(default=None, repr=False)

    @property
    def multi_region(self):
        return len(masks.regions(self.mask, settings.ENGINE["MASK_MIN_REGION_FRACTION"])) > 1

    @property
    def area_fraction(self):
        return float(self.mask.mean())

    def matches(self, rle):
        """Return True if the mask `rle` is this object's (IoU ≥ MATCH_IOU)."""
        try:
            other = masks.decode(rle, (self.mask.shape[1], self.mask.shape[0]))
        except masks.MaskError:
            return False
        union = np.logical_or(other, self.mask).sum()
        return bool(union) and np.logical_and(other, self.mask).sum() / union >= MATCH_IOU

    def mesh_bytes(self):
        with SimulatedTruth.mesh.field.storage.open(self.mesh_name, "rb") as f:
            return f.read()

    def points(self):
        """Return (POINTS, 3) samples of the true surface (seed 1: never the same samples as a candidate's)."""
        if self._points is None:
            from model_suite.meshio import load_mesh

            vertices, faces = load_mesh(self.mesh_bytes())
            self._points = judging.surface_points(vertices, faces, seed=1)
        return self._points


class TruthBook:
    """The truths of a pool's run, by image id, and the distances of the candidates it has judged."""

    def __init__(self):
        self.lock = threading.Lock()
        self.truths = {}
        self.distances = {}

    def get(self, image_id):
        """Return the TruthView of an image, or None when the image is not a composite."""
        with self.lock:
            if image_id in self.truths:
                return self.truths[image_id]
        row = SimulatedTruth.objects.filter(image_id=image_id).first()
        view = None
        if row is not None:
            view = TruthView(image_id, row.category, row.caption, row.mask_rle, masks.decode(row.mask_rle),
                             row.rotation, row.translation, row.scale, row.mesh.name)
        with self.lock:
            return self.truths.setdefault(image_id, view)

    def distance(self, truth, candidate_id, fetch):
        """Return the distance of a candidate to the truth; `fetch()` returns its GLB bytes when not yet judged."""
        key = (truth.image_id, candidate_id)
        with self.lock:
            if key in self.distances:
                return self.distances[key]
        from model_suite.meshio import load_mesh

        vertices, faces = load_mesh(fetch())  # dequantizes the browser GLB
        d = judging.shape_distance(judging.surface_points(vertices, faces), truth.points())
        with self.lock:
            return self.distances.setdefault(key, d)
