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
    R = np.asarray(pose["R"], float).reshape(3, 3)
    t = np.asarray(pose.get("t", [0, 0, 0]), float).reshape(3)
    s = float(pose.get("s", 1.0))
    return (s * np.asarray(vertices, float) @ R.T + t).astype(np.float32)


class PosedSilhouette:
    """Render silhouettes of one mesh under many poses, building its raycasting scene only once.

    Rays go into the object frame instead of moving the mesh: a camera ray o + l d (o = 0) is
    R^T (o - t) / s + l R^T d / s there, and hit or miss does not depend on the parametrisation.
    """

    def __init__(self, vertices: np.ndarray, faces: np.ndarray):
        self.scene = _scene(vertices, faces)
        self._dirs: dict[tuple, np.ndarray] = {}

    def _pixel_directions(self, intrinsics: dict) -> np.ndarray:
        key = tuple(float(intrinsics[k]) for k in ("fx", "fy", "cx", "cy", "width", "height"))
        if key not in self._dirs:
            w, h = int(intrinsics["width"]), int(intrinsics["height"])
            v, u = np.mgrid[0:h, 0:w]
            self._dirs[key] = np.stack([(u.ravel() - intrinsics["cx"]) / intrinsics["fx"],
                                        (v.ravel() - intrinsics["cy"]) / intrinsics["fy"], np.ones(w * h)], axis=1)
        return self._dirs[key]

    def render(self, pose: dict, intrinsics: dict) -> np.ndarray:
        """Return the (height, width) bool silhouette under ``pose``."""
        R = np.asarray(pose["R"], float).reshape(3, 3)
        t = np.asarray(pose.get("t", [0, 0, 0]), float).reshape(3)
        s = float(pose.get("s", 1.0))
        d = self._pixel_directions(intrinsics) @ R / s  # rows are R^T d / s
        o = np.broadcast_to(-(R.T @ t) / s, d.shape)
        rays = o3d.core.Tensor(np.hstack([o, d]).astype(np.float32))
        t_hit = self.scene.cast_rays(rays)["t_hit"].numpy()
        # t_hit < 0 never occurs (rays start at the camera); hits behind it are not cast at all.
        return np.isfinite(t_hit).reshape(int(intrinsics["height"]), int(intrinsics["width"]))

    def iou(self, pose: dict, intrinsics: dict, mask: np.ndarray) -> float:
        """Return the 2D IoU of the silhouette under ``pose`` with ``mask`` (0.0 when both are empty)."""
        sil = self.render(pose, intrinsics)
        union = np.logical_or(sil, mask).sum()
        return float(np.logical_and(sil, mask).sum() / union) if union else 0.0


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
