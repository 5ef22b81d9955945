"""Mesh processing every candidate goes through: validate, repair, normalize, simplify."""

from __future__ import annotations

import numpy as np
import open3d as o3d
import trimesh

DEFAULT_BUDGET = 10_000
MAX_INPUT_TRIANGLES = 5_000_000  # beyond this a mesh is refused rather than risk the worker's memory


class MeshError(ValueError):
    """A mesh that cannot be used, with a stable ``code`` the engine can store."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code


def validate(vertices: np.ndarray, faces: np.ndarray, max_triangles: int = MAX_INPUT_TRIANGLES) -> None:
    """Raise MeshError unless the arrays describe a finite, non-empty, bounded triangle mesh."""
    vertices = np.asarray(vertices)
    faces = np.asarray(faces)
    if vertices.ndim != 2 or vertices.shape[1] != 3 or len(vertices) == 0:
        raise MeshError("empty", f"vertices must be a non-empty (V, 3) array, got shape {vertices.shape}")
    if faces.ndim != 2 or faces.shape[1] != 3 or len(faces) == 0:
        raise MeshError("empty", f"faces must be a non-empty (F, 3) array, got shape {faces.shape}")
    if not np.isfinite(vertices).all():
        raise MeshError("non_finite", f"{int((~np.isfinite(vertices)).any(axis=1).sum())} vertices are NaN or infinite")
    if faces.min() < 0 or faces.max() >= len(vertices):
        raise MeshError("bad_index", f"face indices span [{faces.min()}, {faces.max()}] but there are {len(vertices)} vertices")
    if len(faces) > max_triangles:
        raise MeshError("too_large", f"{len(faces)} triangles exceeds the limit of {max_triangles}; simplify it first")


def repair(vertices: np.ndarray, faces: np.ndarray) -> trimesh.Trimesh:
    """Return a cleaned trimesh: merged duplicates, no degenerate faces, consistent winding, small holes filled."""
    mesh = trimesh.Trimesh(vertices=np.asarray(vertices, np.float64), faces=np.asarray(faces, np.int64), process=True)
    mesh.update_faces(mesh.nondegenerate_faces())
    mesh.update_faces(mesh.unique_faces())
    mesh.remove_unreferenced_vertices()
    trimesh.repair.fix_winding(mesh)
    trimesh.repair.fix_inversion(mesh)
    if not mesh.is_watertight:
        trimesh.repair.fill_holes(mesh)
    return mesh


def normalize(vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Centre the bounding box at the origin and scale its longest side to 1; return (V', centre, scale).

    The original is recovered as ``V = V' * scale + centre``.
    """
    vertices = np.asarray(vertices, np.float64)
    lo, hi = vertices.min(axis=0), vertices.max(axis=0)
    centre = (lo + hi) / 2
    scale = float((hi - lo).max())
    if scale <= 0:
        raise MeshError("degenerate", "all vertices coincide; the mesh has no extent")
    return ((vertices - centre) / scale).astype(np.float32), centre, scale


def simplify(vertices: np.ndarray, faces: np.ndarray, budget: int = DEFAULT_BUDGET) -> tuple[np.ndarray, np.ndarray]:
    """Reduce to at most ``budget`` triangles with Open3D quadric decimation (a no-op when already under)."""
    if len(faces) <= budget:
        return np.asarray(vertices, np.float32), np.asarray(faces, np.int32)
    mesh = o3d.geometry.TriangleMesh(
        o3d.utility.Vector3dVector(np.asarray(vertices, np.float64)),
        o3d.utility.Vector3iVector(np.asarray(faces, np.int32)),
    )
    target = int(budget)
    for _ in range(4):
        # Quadric decimation can stop above its target on noisy, non-manifold input: aim lower and retry.
        out = mesh.simplify_quadric_decimation(target_number_of_triangles=target)
        out.remove_degenerate_triangles()
        out.remove_unreferenced_vertices()
        if len(out.triangles) <= budget:
            return np.asarray(out.vertices, np.float32), np.asarray(out.triangles, np.int32)
        stalled = len(out.triangles) > 0.9 * len(mesh.triangles)
        mesh = out
        if stalled:  # the topology blocks further collapses: retrying would only cost time
            break
        target = max(4, int(target * budget / len(out.triangles) * 0.9))
    # Last resort: cluster vertices on a grid coarse enough to fit the budget.
    voxel = float(np.ptp(np.asarray(mesh.vertices), axis=0).max()) / 64
    while len(mesh.triangles) > budget:
        mesh = mesh.simplify_vertex_clustering(voxel_size=voxel)
        mesh.remove_degenerate_triangles()
        mesh.remove_unreferenced_vertices()
        voxel *= 1.5
    return np.asarray(mesh.vertices, np.float32), np.asarray(mesh.triangles, np.int32)


def prepare_candidate(vertices: np.ndarray, faces: np.ndarray, budget: int = DEFAULT_BUDGET) -> tuple[np.ndarray, np.ndarray]:
    """Validate, normalize to the unit cube and simplify to the budget: the path every candidate takes."""
    validate(vertices, faces)
    v, _, _ = normalize(vertices)
    v, f = simplify(v, faces, budget)
    validate(v, f, max_triangles=budget)
    return v, f


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Return (V, 3) unit area-weighted vertex normals."""
    v = np.asarray(vertices, np.float64)
    f = np.asarray(faces, np.int64)
    face_n = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])  # length = 2 * area, so area-weighted
    n = np.zeros_like(v)
    for k in range(3):
        np.add.at(n, f[:, k], face_n)
    length = np.linalg.norm(n, axis=1, keepdims=True)
    n = np.where(length > 0, n / np.maximum(length, 1e-30), np.array([0.0, 0.0, 1.0]))
    return n.astype(np.float32)

