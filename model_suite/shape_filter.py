"""The rule-based filter that keeps junk out of the shape library (as in SAM 3D's data engine).

Rules run on a mesh already normalized to the unit cube, so thresholds are in unit-cube terms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh
from scipy.spatial import cKDTree

MIN_HULL_VOLUME = 1e-3  # convex hull below 0.1 % of the unit cube: a line, a sliver or a sheet
MAX_NORMAL_CONCENTRATION = 0.97  # share of area whose normals lie along one axis: a flat sheet
MAX_FRAGMENT_GAP = 0.15  # a part this far (unit cube) from the main body is a stray fragment
MIN_FRAGMENT_AREA = 1e-4  # below this area a fragment is dust, not worth judging


@dataclass
class Verdict:
    """The filter's decision on one mesh: ``reason`` is a stable code when rejected, with a detail."""

    ok: bool
    reason: str = ""
    detail: str = ""


def hull_volume(mesh: trimesh.Trimesh) -> float:
    """Return the volume of the convex hull (0 when the points are coplanar)."""
    try:
        return float(mesh.convex_hull.volume)
    except Exception:  # qhull fails on coplanar/collinear input, which is the degenerate case itself
        return 0.0


def normal_concentration(mesh: trimesh.Trimesh) -> float:
    """Return the largest eigenvalue share of the area-weighted normal scatter matrix sum(a n n^T) / sum(a).

    1.0 means every face is parallel (a sheet); a cube gives 1/3, a sphere 1/3.
    """
    a = mesh.area_faces
    n = mesh.face_normals
    scatter = (n * a[:, None]).T @ n / max(a.sum(), 1e-12)
    return float(np.linalg.eigvalsh(scatter)[-1])


def fragment_gap(mesh: trimesh.Trimesh, max_parts: int = 64) -> float:
    """Return the largest gap separating a non-negligible part from the body grown out of the largest part.

    Parts join the body one at a time, nearest first (single linkage), so a leg attached to the
    body through another leg is not a fragment; the answer is the widest jump that was needed.
    """
    parts = [p for p in mesh.split(only_watertight=False) if p.area >= MIN_FRAGMENT_AREA]
    if len(parts) <= 1:
        return 0.0
    parts = sorted(parts, key=lambda p: p.area, reverse=True)[:max_parts]
    points = [np.vstack([p.vertices, trimesh.sample.sample_surface(p, 500, seed=0)[0]]) for p in parts]
    trees = [cKDTree(x) for x in points]
    # dist[i, j]: closest approach between parts i and j
    k = len(parts)
    dist = np.zeros((k, k))
    for i in range(k):
        for j in range(i + 1, k):
            dist[i, j] = dist[j, i] = trees[i].query(points[j], k=1)[0].min()
    joined = np.zeros(k, bool)
    joined[0] = True
    reach = dist[0].copy()
    widest = 0.0
    for _ in range(k - 1):
        j = int(np.argmin(np.where(joined, np.inf, reach)))
        widest = max(widest, float(reach[j]))
        joined[j] = True
        reach = np.minimum(reach, dist[j])
    return widest


def check(mesh: trimesh.Trimesh) -> Verdict:
    """Apply the three rules in order and return the first failure, or ok."""
    vol = hull_volume(mesh)
    if vol < MIN_HULL_VOLUME:
        return Verdict(False, "degenerate_volume", f"convex hull volume {vol:.2e} < {MIN_HULL_VOLUME:.0e} of the unit cube")
    conc = normal_concentration(mesh)
    if conc > MAX_NORMAL_CONCENTRATION:
        return Verdict(False, "flat_sheet", f"{conc:.1%} of the surface faces one direction (limit {MAX_NORMAL_CONCENTRATION:.0%})")
    gap = fragment_gap(mesh)
    if gap > MAX_FRAGMENT_GAP:
        return Verdict(False, "far_fragment", f"a part lies {gap:.2f} from the main body (limit {MAX_FRAGMENT_GAP})")
    return Verdict(True)
