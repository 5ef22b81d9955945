"""Silhouette retrieval: match the object mask against every library shape seen from K viewpoints."""

from __future__ import annotations

import os
import time

import numpy as np

from .base import Availability, CandidateMesh, Generator
from .candidates import make_candidate, refined
from .library import Library
from .posing import estimate_pose, virtual_intrinsics
from .raycast import canonical_views, orthographic_silhouettes
from .shape_descriptor import descriptor, match

MAX_ROLL = np.radians(45)  # photos are mostly upright: tolerate tilt, not upside-down matches


class SilhouetteRetrievalGenerator(Generator):
    """Return the library shapes whose rendered silhouette best matches the mask, posed at the matching view."""

    name = "silhouette_retrieval"
    version = "1"
    kind = "retrieval"
    queue = "cpu"

    def __init__(self, library_dir, n_azimuth: int = 8, resolution: int = 64, refine: bool = True):
        self.refine = refine  # render-and-compare the initial pose against the mask (about 0.25 s each)
        self.library = Library(library_dir)
        self.views = canonical_views(n_azimuth)  # (K, 3, 3)
        self.resolution = resolution
        self._bank: np.ndarray | None = None

    def availability(self) -> Availability:
        self.library.refresh()
        if len(self.library) == 0:
            return Availability(False, f"the shape library at {self.library.dir} is empty: run import_shapes first")
        return Availability(True)

    def warm_up(self) -> None:
        """Render (or load) the silhouette descriptors of the whole library."""
        if self.availability().ok:
            self.bank()

    def bank(self) -> np.ndarray:
        """Return (N, K, R, S) descriptors of every shape under every view, cached per library fingerprint."""
        if self.library.refresh():
            self._bank = None  # new shapes: their silhouettes must be rendered
        if self._bank is not None:
            return self._bank
        cache = self.library.cache_dir() / f"silhouettes-{self.library.fingerprint()}-{len(self.views)}-{self.resolution}.npy"
        if cache.exists():
            self._bank = np.load(cache)
            return self._bank
        rows = []
        for entry in self.library.entries:
            sils = orthographic_silhouettes(*self.library.mesh(entry.id), self.views, self.resolution)
            rows.append(np.stack([descriptor(s) for s in sils]))
        self._bank = np.stack(rows).astype(np.float32)
        tmp = cache.with_suffix(".tmp.npy")
        np.save(tmp, self._bank)
        os.replace(tmp, cache)
        return self._bank

    def generate(self, image, mask, context, n, seed) -> list[CandidateMesh]:
        """Return the ``n`` shapes with the nearest silhouettes; pose R = Rz(in-plane angle) @ view rotation."""
        started = time.perf_counter()
        bank = self.bank()
        N, K = bank.shape[:2]
        dist, angle = match(descriptor(np.asarray(mask, bool)), bank.reshape(N * K, *bank.shape[2:]), MAX_ROLL)
        dist, angle = dist.reshape(N, K), angle.reshape(N, K)
        best_view = dist.argmin(axis=1)
        best = dist[np.arange(N), best_view]
        intrinsics = context.intrinsics or virtual_intrinsics(*mask.shape)
        out = []
        for rank, i in enumerate(np.argsort(best, kind="stable")[:n]):
            entry = self.library.entries[int(i)]
            k = int(best_view[i])
            a = float(angle[i, k])
            Rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
            R = Rz @ self.views[k]
            v, f = self.library.mesh(entry.id)
            pose = estimate_pose(v, R, mask, intrinsics, context.point_cloud)
            cand = make_candidate(self, v, f, seed, started, pose, shape_id=entry.id, caption=entry.caption,
                                  distance=float(best[i]), view=k, roll_degrees=round(float(np.degrees(a)), 1), rank=rank)
            out.append(refined(cand, intrinsics, mask) if self.refine else cand)
            started = time.perf_counter()
        return out
