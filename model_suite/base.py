"""The small interface every candidate generator implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

Kind = Literal["retrieval", "lifting", "model", "external"]


@dataclass
class GenerationContext:
    """What the engine knows about the object beyond its image and mask."""

    category: str = ""
    description: str = ""
    point_cloud: np.ndarray | None = None  # (P, 3) float32, camera coords, OpenCV convention
    intrinsics: dict | None = None  # fx, fy, cx, cy, width, height (pixels)
    object_id: int | None = None
    image_id: int | None = None
    best_of: int = 0  # sample this many and keep the best n (our model; 0: the generator's own setting)


@dataclass
class CandidateMesh:
    """One proposed shape, in the object frame (unit cube centred at origin), with provenance.

    ``pose`` is ``{"R": 3x3 list, "t": [3], "s": float}`` in camera coordinates
    (p_cam = s * R @ p_obj + t) when the generator can estimate one, else None.
    """

    vertices: np.ndarray  # (V, 3) float32
    faces: np.ndarray  # (F, 3) int32
    generator: str
    version: str
    kind: Kind
    seed: int
    checkpoint: str | None = None
    seconds: float = 0.0
    pose: dict | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        self.vertices = np.ascontiguousarray(self.vertices, dtype=np.float32)
        self.faces = np.ascontiguousarray(self.faces, dtype=np.int32)
        assert self.vertices.ndim == 2 and self.vertices.shape[1] == 3, f"vertices must be (V, 3), got {self.vertices.shape}"
        assert self.faces.ndim == 2 and self.faces.shape[1] == 3, f"faces must be (F, 3), got {self.faces.shape}"


@dataclass
class Availability:
    """Whether a generator can run here, and if not, why (shown to the ML engineer)."""

    ok: bool
    reason: str = ""


class Generator:
    """Base class: subclasses set the class attributes and implement ``generate``."""

    name: str = "base"
    version: str = "0"
    kind: Kind = "retrieval"
    queue: Literal["cpu", "gpu"] = "cpu"

    def availability(self) -> Availability:
        """Return whether this generator has what it needs (weights, library, server)."""
        return Availability(True, "")

    def warm_up(self) -> None:
        """Load weights and build caches now (call once per worker process) so the first object is not slow."""

    def generate(
        self,
        image: np.ndarray,
        mask: np.ndarray,
        context: GenerationContext,
        n: int,
        seed: int,
    ) -> list[CandidateMesh]:
        """Return up to ``n`` candidates for the masked object; image is (H, W, 3) uint8, mask (H, W) bool."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}@{self.version} kind={self.kind} queue={self.queue}>"
