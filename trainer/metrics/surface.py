"""Surfaces for the metrics: normalisation to [-1, 1], uniform point sampling, ICP alignment."""
from __future__ import annotations

import numpy as np
import open3d as o3d
import trimesh


def as_mesh(mesh) -> trimesh.Trimesh:
    """A trimesh from a Trimesh or a (vertices, faces) pair."""
    if isinstance(mesh, trimesh.Trimesh):
        return mesh
    v, f = mesh
    return trimesh.Trimesh(np.asarray(v, dtype=np.float64), np.asarray(f), process=False)


def normalize_to_cube(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """Centre the bbox at the origin and scale so the largest half-side is 1 (shape in [-1, 1]^3)."""
    mesh = mesh.copy()
    lo, hi = mesh.bounds
    mesh.apply_translation(-(lo + hi) / 2)
    mesh.apply_scale(2.0 / max(float((hi - lo).max()), 1e-12))
    return mesh


def sample_points(mesh: trimesh.Trimesh, n: int, seed: int = 0) -> np.ndarray:
    """(n, 3) points uniform on the surface (area-weighted)."""
    pts, _ = trimesh.sample.sample_surface(mesh, n, seed=seed)
    return np.asarray(pts)


def icp(source: np.ndarray, target: np.ndarray, max_distance: float = 0.2, iterations: int = 50) -> np.ndarray:
    """Open3D point-to-point ICP from the identity; return the (4, 4) transform source -> target."""
    src = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(source))
    tgt = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(target))
    reg = o3d.pipelines.registration.registration_icp(
        src, tgt, max_distance, np.eye(4), o3d.pipelines.registration.TransformationEstimationPointToPoint(),
        o3d.pipelines.registration.ICPConvergenceCriteria(max_iteration=iterations))
    return np.asarray(reg.transformation)


def transform(points: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Apply a (4, 4) rigid transform to (n, 3) points."""
    return points @ T[:3, :3].T + T[:3, 3]


def occupancy_mesh(occ: np.ndarray, level: float = 0.5) -> trimesh.Trimesh | None:
    """(G,G,G) occupancy (probabilities or bool) -> marching-cubes surface in the unit cube, or None if empty.

    A full grid is a shape too (a box or a visual hull that fills the unit cube, as geometric lifting
    makes from a box mask): the empty border padded around the grid gives it its surface.
    """
    from skimage.measure import marching_cubes
    occ = np.asarray(occ, dtype=np.float32)
    if occ.max() < level:
        return None
    g = occ.shape[0]
    v, f, _, _ = marching_cubes(np.pad(occ, 1), level)
    return trimesh.Trimesh((v - 1 + 0.5) / g - 0.5, f, process=False)
