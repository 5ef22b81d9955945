"""Geometric lifting: closed meshes built from the mask and the point cloud, with no learned model.

Candidates, each watertight:
- ``visual_hull``: the mask swept through a depth slab (from the object's points, or the stated
  prior) as a voxel grid, the visible surface carved by the points, meshed by marching cubes;
- ``box``, ``cylinder``, ``ellipsoid``, ``superquadric`` (a rounded box): primitives fitted to the
  same camera-space extent.
"""

from __future__ import annotations

import time

import numpy as np
import trimesh
from skimage.measure import marching_cubes

from .base import Availability, CandidateMesh, Generator
from .candidates import make_candidate
from .posing import DEPTH_PRIOR_M, object_points, virtual_intrinsics
from .raycast import mask_iou

CAMERA_TO_UPRIGHT = np.diag([1.0, -1.0, -1.0])  # camera (y down, z forward) -> object frame (y up, facing camera)
THICKNESS_PRIOR = 0.6  # with no points, depth extent = 0.6 x the smaller of the mask's metric width/height


def _extent(mask: np.ndarray, intrinsics: dict, pts: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, str]:
    """Return (camera-space box lo, hi) of the object and where the depth came from."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if pts is not None:
        z_front = float(np.percentile(pts[:, 2], 5))
        depth = float(np.percentile(pts[:, 2], 95) - z_front)
        source = "point_cloud"
    else:
        z_front, depth, source = DEPTH_PRIOR_M, None, f"depth_prior_{DEPTH_PRIOR_M}m"
    # OpenCV pixel convention: pixel u covers [u - 0.5, u + 0.5]
    x0 = (cols[0] - 0.5 - intrinsics["cx"]) * z_front / intrinsics["fx"]
    x1 = (cols[-1] + 0.5 - intrinsics["cx"]) * z_front / intrinsics["fx"]
    y0 = (rows[0] - 0.5 - intrinsics["cy"]) * z_front / intrinsics["fy"]
    y1 = (rows[-1] + 0.5 - intrinsics["cy"]) * z_front / intrinsics["fy"]
    if depth is None or depth < 0.2 * min(x1 - x0, y1 - y0):
        depth = THICKNESS_PRIOR * min(x1 - x0, y1 - y0)  # a single visible surface says little about thickness
    return np.array([x0, y0, z_front]), np.array([x1, y1, z_front + depth]), source


def visual_hull(mask: np.ndarray, intrinsics: dict, lo: np.ndarray, hi: np.ndarray, pts: np.ndarray | None,
                grid: int = 48) -> trimesh.Trimesh:
    """Return the watertight camera-space mesh of voxels in [lo, hi] that project into the mask and lie behind the points."""
    axes = [np.linspace(lo[i], hi[i], grid) for i in range(3)]
    X, Y, Z = np.meshgrid(*axes, indexing="ij")
    u = np.round(X * intrinsics["fx"] / Z + intrinsics["cx"]).astype(int)
    v = np.round(Y * intrinsics["fy"] / Z + intrinsics["cy"]).astype(int)
    h, w = mask.shape
    ok = (u >= 0) & (u < w) & (v >= 0) & (v < h)
    occ = np.zeros(X.shape, bool)
    occ[ok] = mask[v[ok], u[ok]]
    if pts is not None and len(pts) > 50:
        # Carve what lies in front of the visible surface: per pixel column, the nearest observed depth.
        front = np.full(mask.shape, np.inf)
        pu = np.round(pts[:, 0] * intrinsics["fx"] / pts[:, 2] + intrinsics["cx"]).astype(int).clip(0, w - 1)
        pv = np.round(pts[:, 1] * intrinsics["fy"] / pts[:, 2] + intrinsics["cy"]).astype(int).clip(0, h - 1)
        np.minimum.at(front, (pv, pu), pts[:, 2])
        seen = np.isfinite(front[v.clip(0, h - 1), u.clip(0, w - 1)])
        occ &= ~(seen & (Z < front[v.clip(0, h - 1), u.clip(0, w - 1)] - (hi[2] - lo[2]) / grid))
    occ = np.pad(occ, 1)  # a border of empty voxels closes the marching-cubes surface
    if occ.sum() < 8:
        raise ValueError("the mask covers too few voxels to lift")
    verts, faces, _, _ = marching_cubes(occ.astype(np.float32), level=0.5)
    step = (hi - lo) / (grid - 1)
    verts = (verts - 1) * step + lo
    mesh = trimesh.Trimesh(verts, faces[:, ::-1], process=True)  # skimage winds inwards for this grid order
    trimesh.repair.fix_normals(mesh)
    trimesh.smoothing.filter_taubin(mesh, iterations=5)  # take the voxel stair-steps off without shrinking
    parts = mesh.split(only_watertight=True)
    return max(parts, key=lambda p: p.volume) if len(parts) else mesh


def superquadric(radii: np.ndarray, exponent: float = 0.5, subdivisions: int = 4) -> trimesh.Trimesh:
    """Return the closed superquadric |x/a|^(2/e) + |y/b|^(2/e) + |z/c|^(2/e) = 1 (e = 1: ellipsoid, e -> 0: box).

    Each icosphere direction d is pushed to the surface: F is homogeneous, F(r d) = r^(2/e) F(d),
    so r = F(d)^(-e/2); the sphere's connectivity keeps the mesh watertight.
    """
    m = trimesh.creation.icosphere(subdivisions=subdivisions)
    d = np.asarray(m.vertices) / np.asarray(radii, float)
    f = (np.abs(d) ** (2 / exponent)).sum(axis=1)
    m.vertices = m.vertices * (f ** (-exponent / 2))[:, None]
    return m


def primitive(kind: str, lo: np.ndarray, hi: np.ndarray, exponent: float = 0.4) -> trimesh.Trimesh:
    """Return a box, upright cylinder, ellipsoid or superquadric filling the camera-space box [lo, hi]."""
    size, centre = hi - lo, (hi + lo) / 2
    if kind == "box":
        m = trimesh.creation.box(extents=size)
    elif kind == "cylinder":
        m = trimesh.creation.cylinder(radius=0.5, height=1.0, sections=48)
        m.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0]))  # axis along camera y (upright)
        m.apply_scale(size)
    elif kind == "ellipsoid":
        m = trimesh.creation.icosphere(subdivisions=4)
        m.apply_scale(size / 2)
    elif kind == "superquadric":
        m = superquadric(size / 2, exponent)
    else:
        raise ValueError(f"unknown primitive {kind!r}")
    return m.apply_translation(centre)


class GeometricLiftingGenerator(Generator):
    """Lift the mask (and the object's points, when present) into closed meshes: a visual hull and fitted primitives."""

    name = "geometric_lifting"
    version = "1"
    kind = "lifting"
    queue = "cpu"
    METHODS = ("visual_hull", "box", "cylinder", "ellipsoid", "superquadric")

    def __init__(self, grid: int = 48):
        self.grid = grid

    def availability(self) -> Availability:
        return Availability(True)

    def generate(self, image, mask, context, n, seed) -> list[CandidateMesh]:
        """Return up to ``n`` lifted meshes: the visual hull, then primitives in a seeded order (each with its mask IoU).

        The order does not depend on ``n`` (a larger n only appends), so top-ups never repeat a candidate.
        """
        mask = np.asarray(mask, bool)
        if not mask.any():
            return []
        intrinsics = context.intrinsics or virtual_intrinsics(*mask.shape)
        pts = object_points(context.point_cloud, intrinsics, mask)
        lo, hi, source = _extent(mask, intrinsics, pts)
        # Visual hull always; primitives in an order the seed rotates, so several calls give variety.
        rng = np.random.default_rng(seed)
        methods = ["visual_hull"] + [str(m) for m in rng.permutation(self.METHODS[1:])]
        scored = []
        for method in methods[: max(n, 1)]:
            started = time.perf_counter()
            cam = visual_hull(mask, intrinsics, lo, hi, pts, self.grid) if method == "visual_hull" else primitive(method, lo, hi)
            centre = (cam.bounds[0] + cam.bounds[1]) / 2
            v_obj = (cam.vertices - centre) @ CAMERA_TO_UPRIGHT  # R^T (p - t) with R = CAMERA_TO_UPRIGHT
            pose = {"R": CAMERA_TO_UPRIGHT.tolist(), "t": centre.tolist(), "s": 1.0, "source": source}
            cand = make_candidate(self, v_obj, cam.faces, seed, started, pose, method=method, watertight=bool(cam.is_watertight))
            cand.extra["mask_iou"] = mask_iou((cand.vertices, cand.faces), cand.pose, intrinsics, mask)
            cand.seconds = time.perf_counter() - started
            scored.append(cand)
        return scored[:n]
