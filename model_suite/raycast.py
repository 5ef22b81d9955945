"""Silhouettes by Open3D raycasting: posed meshes seen through a pinhole camera, and canonical views.

Camera convention (OpenCV): x right, y down, z forward; p_cam = s * R @ p_obj + t; pixel (u, v)
is centred on u = fx x / z + cx exactly (Open3D's own ``create_rays_pinhole`` adds half a pixel,
so rays are built here).
"""

from __future__ import annotations

import numpy as np
import open3d as o3d


def _scene(vertices: np.ndarray, faces: np.ndarray) -> o3d.t.geometry.RaycastingScene:
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(np.asarray(vertices, np.float32)), o3d.core.Tensor(np.asarray(faces, np.uint32)))
    return scene


def pose_vertices(vertices: np.ndarray, pose: dict) -> np.ndarray:
    """Return vertices in camera coordinates: s * R @ v + t."""
    R, t, s = _pose_parts(pose)
    return (s * np.asarray(vertices, float) @ R.T + t).astype(np.float32)


class PosedSilhouette:
    """Render silhouettes of one mesh under many poses, building its raycasting scene only once.

    Rays go into the object frame instead of moving the mesh: a camera ray o + l d (o = 0) is
    R^T (o - t) / s + l R^T d / s there, and hit or miss does not depend on the parametrisation.
    Only the pixels inside the projection of the mesh's bounding box are cast (the silhouette
    cannot leave it while the box is in front of the camera), as occlusion tests, which stop at the
    first triangle a ray meets: the same silhouette as casting every pixel to its nearest hit.
    """

    def __init__(self, vertices: np.ndarray, faces: np.ndarray):
        self.scene = _scene(vertices, faces)
        v = np.asarray(vertices, float)
        lo, hi = (v.min(axis=0), v.max(axis=0)) if len(v) else (np.zeros(3), np.zeros(3))
        self._corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])

    def window(self, pose: dict, intrinsics: dict) -> tuple[int, int, int, int] | None:
        """Return (row0, row1, col0, col1), the pixels the posed mesh can cover, or None when it covers none.

        The bounding box's corners are projected; when one is not in front of the camera, the whole image.
        """
        w, h = int(intrinsics["width"]), int(intrinsics["height"])
        R, t, s = _pose_parts(pose)
        p = s * self._corners @ R.T + t
        if (p[:, 2] <= 1e-6).any():
            return (0, h, 0, w) if (p[:, 2] > 0).any() else None
        u = intrinsics["fx"] * p[:, 0] / p[:, 2] + intrinsics["cx"]
        v = intrinsics["fy"] * p[:, 1] / p[:, 2] + intrinsics["cy"]
        # One pixel of margin each side against rounding; pixel centres sit on integer coordinates.
        c0, c1 = max(0, int(np.floor(u.min())) - 1), min(w, int(np.ceil(u.max())) + 2)
        r0, r1 = max(0, int(np.floor(v.min())) - 1), min(h, int(np.ceil(v.max())) + 2)
        return (r0, r1, c0, c1) if c0 < c1 and r0 < r1 else None

    def _hits(self, pose: dict, intrinsics: dict, window: tuple[int, int, int, int]) -> np.ndarray:
        """Return the bool silhouette inside ``window``."""
        R, t, s = _pose_parts(pose)
        r0, r1, c0, c1 = window
        x = ((np.arange(c0, c1) - intrinsics["cx"]) / intrinsics["fx"])[None, :]  # pixel centres at z = 1
        y = ((np.arange(r0, r1) - intrinsics["cy"]) / intrinsics["fy"])[:, None]
        rays = np.empty((r1 - r0, c1 - c0, 6), np.float32)
        rays[..., :3] = -(R.T @ t) / s
        for j in range(3):  # R^T (x, y, 1) / s, one object axis at a time
            rays[..., 3 + j] = (x * R[0, j] + y * R[1, j] + R[2, j]) / s
        # Rays start at the camera: surfaces behind it are never met.
        return self.scene.test_occlusions(o3d.core.Tensor(rays)).numpy()

    def render(self, pose: dict, intrinsics: dict) -> np.ndarray:
        """Return the (height, width) bool silhouette under ``pose``."""
        out = np.zeros((int(intrinsics["height"]), int(intrinsics["width"])), bool)
        window = self.window(pose, intrinsics)
        if window is not None:
            r0, r1, c0, c1 = window
            out[r0:r1, c0:c1] = self._hits(pose, intrinsics, window)
        return out

    def iou(self, pose: dict, intrinsics: dict, mask: np.ndarray) -> float:
        """Return the 2D IoU of the silhouette under ``pose`` with ``mask`` (0.0 when both are empty)."""
        window = self.window(pose, intrinsics)
        if window is None:
            return 0.0
        mask = np.asarray(mask, bool)
        r0, r1, c0, c1 = window
        sil = self._hits(pose, intrinsics, window)
        inter = int(np.count_nonzero(sil & mask[r0:r1, c0:c1]))
        union = int(np.count_nonzero(mask)) + int(np.count_nonzero(sil)) - inter
        return inter / union if union else 0.0


def _pose_parts(pose: dict) -> tuple[np.ndarray, np.ndarray, float]:
    """Return (R (3, 3), t (3,), s) of a pose dict; t defaults to the origin and s to 1."""
    return (np.asarray(pose["R"], float).reshape(3, 3), np.asarray(pose.get("t", [0, 0, 0]), float).reshape(3),
            float(pose.get("s", 1.0)))


def render_mask(vertices: np.ndarray, faces: np.ndarray, pose: dict, intrinsics: dict) -> np.ndarray:
    """Return the (height, width) bool silhouette of the posed mesh through the pinhole camera."""
    return PosedSilhouette(vertices, faces).render(pose, intrinsics)


def mask_iou(mesh: tuple[np.ndarray, np.ndarray], pose: dict, intrinsics: dict, mask: np.ndarray) -> float:
    """Return the 2D IoU between the posed mesh's silhouette and ``mask`` (Stage 3's "mesh IoU").

    ``mesh`` is (V, F) in the object frame; ``pose`` is ``{"R": 3x3, "t": [3], "s": float}``;
    ``mask`` is (height, width) bool matching ``intrinsics``. Returns 0.0 when both are empty.
    """
    mask = np.asarray(mask, bool)
    assert mask.shape == (int(intrinsics["height"]), int(intrinsics["width"])), \
        f"mask is {mask.shape} but intrinsics say {intrinsics['height']}x{intrinsics['width']}"
    return PosedSilhouette(*mesh).iou(pose, intrinsics, mask)


def view_rotation(azimuth: float, elevation: float, roll: float = 0.0) -> np.ndarray:
    """Return R (object -> camera) showing a y-up object upright, turned by ``azimuth`` and seen from ``elevation`` above.

    R = Rz(roll) @ Rx(elevation) @ diag(1, -1, -1) @ Ry(azimuth); the flip maps object y-up to camera y-down
    and puts the object's +z face towards the camera. Angles in radians.
    """
    ca, sa = np.cos(azimuth), np.sin(azimuth)
    ce, se = np.cos(elevation), np.sin(elevation)
    cr, sr = np.cos(roll), np.sin(roll)
    Ry = np.array([[ca, 0, sa], [0, 1, 0], [-sa, 0, ca]])
    Rx = np.array([[1, 0, 0], [0, ce, -se], [0, se, ce]])
    Rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return Rz @ Rx @ np.diag([1.0, -1.0, -1.0]) @ Ry


def canonical_views(n_azimuth: int = 8, elevations=(np.radians(10), np.radians(35))) -> np.ndarray:
    """Return (K, 3, 3) view rotations: ``n_azimuth`` turns at each elevation (K = 16 by default)."""
    return np.stack([view_rotation(2 * np.pi * a / n_azimuth, e) for e in elevations for a in range(n_azimuth)])


def orthographic_silhouettes(vertices: np.ndarray, faces: np.ndarray, rotations: np.ndarray, size: int = 64) -> np.ndarray:
    """Return (K, size, size) bool silhouettes of a unit-cube mesh seen orthographically under each rotation.

    Pixel (i, j) looks along camera +z through camera point x = u[j], y = u[i] with u spanning
    [-0.9, 0.9] (the unit cube's half-diagonal is 0.87), so all views share one scale.
    """
    scene = _scene(vertices, faces)
    u = np.linspace(-0.9, 0.9, size)
    gx, gy = np.meshgrid(u, u)  # gx varies along columns (x right), gy along rows (y down)
    cam_origins = np.stack([gx.ravel(), gy.ravel(), np.full(gx.size, -2.0)], axis=1)
    rays = []
    for R in rotations:  # rays go into the object frame: p_obj = R^T p_cam
        rays.append(np.hstack([cam_origins @ R, np.tile(R[2], (len(cam_origins), 1))]))
    hits = scene.cast_rays(o3d.core.Tensor(np.concatenate(rays).astype(np.float32)))["t_hit"].numpy()
    return np.isfinite(hits).reshape(len(rotations), size, size)
