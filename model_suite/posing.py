"""Initial pose (t, s) for a candidate given its rotation, from the object's points or from its mask alone.

Without a point cloud, depth is unknown: we assume the object stands ``DEPTH_PRIOR_M`` metres
away (a stated prior, not a measurement), so t and s are right up to one common factor.
"""

from __future__ import annotations

import numpy as np

DEPTH_PRIOR_M = 2.5


def virtual_intrinsics(height: int, width: int) -> dict:
    """Return a plausible pinhole (about 53 degrees across the longer side) for images without calibration."""
    f = float(max(height, width))
    return dict(fx=f, fy=f, cx=width / 2.0, cy=height / 2.0, width=int(width), height=int(height))


def object_points(point_cloud: np.ndarray | None, intrinsics: dict | None, mask: np.ndarray) -> np.ndarray | None:
    """Return the (P, 3) camera points that project inside ``mask``, or None if there are too few."""
    if point_cloud is None or intrinsics is None or len(point_cloud) == 0:
        return None
    p = np.asarray(point_cloud, np.float64)
    p = p[np.isfinite(p).all(axis=1) & (p[:, 2] > 0)]
    u = np.round(p[:, 0] * intrinsics["fx"] / p[:, 2] + intrinsics["cx"]).astype(int)
    v = np.round(p[:, 1] * intrinsics["fy"] / p[:, 2] + intrinsics["cy"]).astype(int)
    h, w = mask.shape
    inside = (u >= 0) & (u < w) & (v >= 0) & (v < h)
    p, u, v = p[inside], u[inside], v[inside]
    p = p[mask[v, u]]
    if len(p) < 20:
        return None
    # Mask edges bleed onto the background: keep the depth band around the median.
    z = p[:, 2]
    med = np.median(z)
    mad = np.median(np.abs(z - med)) + 1e-6
    return p[np.abs(z - med) < 4 * 1.4826 * mad]


def estimate_pose(vertices: np.ndarray, R: np.ndarray, mask: np.ndarray, intrinsics: dict | None,
                  point_cloud: np.ndarray | None = None) -> dict | None:
    """Return ``{"R", "t", "s", "source"}`` placing the unit-cube mesh rotated by R over the mask.

    With object points, the scale matches their x-y spread and the centre sits half the
    mesh's depth behind their nearest points; otherwise the mask's box is back-projected with its
    front at the depth prior. Returns None without intrinsics or with an empty mask.
    """
    if intrinsics is None or not mask.any():
        return None
    R = np.asarray(R, float)
    rotated = np.asarray(vertices, float) @ R.T
    ext = rotated.max(axis=0) - rotated.min(axis=0)  # extents in camera axes at s = 1
    mid = (rotated.max(axis=0) + rotated.min(axis=0)) / 2
    pts = object_points(point_cloud, intrinsics, mask)
    if pts is not None:
        lo, hi = np.percentile(pts, [2, 98], axis=0)  # percentiles: robust to stray edge points
        s = float(np.mean((hi[:2] - lo[:2]) / np.maximum(ext[:2], 1e-6)))
        centre = np.array([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, lo[2] + s * ext[2] / 2])
        source = "point_cloud"
    else:
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        z = DEPTH_PRIOR_M
        width_m = (cols[-1] - cols[0] + 1) * z / intrinsics["fx"]
        height_m = (rows[-1] - rows[0] + 1) * z / intrinsics["fy"]
        s = float(np.mean([width_m / max(ext[0], 1e-6), height_m / max(ext[1], 1e-6)]))
        uc, vc = (cols[0] + cols[-1]) / 2, (rows[0] + rows[-1]) / 2
        zc = z + s * ext[2] / 2  # the prior is the depth of the visible front, the centre lies behind it
        centre = np.array([(uc - intrinsics["cx"]) * zc / intrinsics["fx"], (vc - intrinsics["cy"]) * zc / intrinsics["fy"], zc])
        source = f"depth_prior_{DEPTH_PRIOR_M}m"
    front = centre[2] - s * ext[2] / 2
    s, centre = _fit_box(rotated - mid, s, centre, front, mask, intrinsics)
    t = centre - s * mid  # the rotated mesh's box centre lands on ``centre``
    return {"R": R.tolist(), "t": t.tolist(), "s": s, "source": source}


def _fit_box(rotated: np.ndarray, s: float, centre: np.ndarray, front: float, mask: np.ndarray, intrinsics: dict,
             iterations: int = 6) -> tuple[float, np.ndarray]:
    """Adjust s and the x-y centre until the projected vertices' box matches the mask's box, front depth fixed.

    The first guess ignores perspective (near parts look larger); a few fixed-point steps on
    projected vertices, far cheaper than raycasting, correct it.
    """
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    # OpenCV pixel convention: pixel u covers [u - 0.5, u + 0.5]
    target = np.array([cols[0] - 0.5, cols[-1] + 0.5, rows[0] - 0.5, rows[-1] + 0.5], float)
    ext_z = rotated[:, 2].max() - rotated[:, 2].min()
    for _ in range(iterations):
        centre[2] = front + s * ext_z / 2
        p = s * rotated + centre
        z = np.maximum(p[:, 2], 1e-6)
        u = p[:, 0] * intrinsics["fx"] / z + intrinsics["cx"]
        v = p[:, 1] * intrinsics["fy"] / z + intrinsics["cy"]
        box = np.array([u.min(), u.max(), v.min(), v.max()])
        k = np.mean([(target[1] - target[0]) / max(box[1] - box[0], 1e-6), (target[3] - target[2]) / max(box[3] - box[2], 1e-6)])
        s *= float(k)
        centre[0] += ((target[0] + target[1]) - (box[0] + box[1])) / 2 * centre[2] / intrinsics["fx"]
        centre[1] += ((target[2] + target[3]) - (box[2] + box[3])) / 2 * centre[2] / intrinsics["fy"]
    centre[2] = front + s * ext_z / 2
    return s, centre
