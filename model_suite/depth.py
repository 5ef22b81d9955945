"""Depth or disparity maps to point clouds the Stage 3 viewer loads (PLY and a raw float32 array).

Depth from stereo: Z = baseline * f / (d + doffs), the Middlebury convention (doffs is the
x-difference of the two principal points). Points are camera coordinates, OpenCV convention.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np

# Calibration of the 4x down-sampled Middlebury 2014 "Motorcycle" pair shipped in skimage.data
MOTORCYCLE = dict(fx=994.978, fy=994.978, cx=311.193, cy=254.877, doffs=31.086, baseline_m=0.193001, width=741, height=500)


def disparity_to_depth(disparity: np.ndarray, focal: float, baseline: float, doffs: float = 0.0) -> np.ndarray:
    """Return depth Z = baseline * focal / (disparity + doffs), NaN where the disparity is missing or not positive."""
    d = np.asarray(disparity, np.float64) + doffs
    with np.errstate(divide="ignore", invalid="ignore"):
        z = baseline * focal / d
    z[~np.isfinite(d) | ~np.isfinite(z) | (d <= 0)] = np.nan  # skimage marks unknown disparity as inf
    return z.astype(np.float32)


def depth_to_points(depth: np.ndarray, intrinsics: dict, mask: np.ndarray | None = None, image: np.ndarray | None = None,
                    stride: int = 1) -> tuple[np.ndarray, np.ndarray | None]:
    """Back-project a (H, W) depth map into (P, 3) float32 camera points (and (P, 3) uint8 colours if ``image``).

    x = (u - cx) * Z / fx, y = (v - cy) * Z / fy; pixels with NaN/zero depth or outside ``mask`` are skipped.
    """
    depth = np.asarray(depth, np.float32)
    h, w = depth.shape
    v, u = np.mgrid[0:h:stride, 0:w:stride]
    z = depth[::stride, ::stride]
    keep = np.isfinite(z) & (z > 0)
    if mask is not None:
        keep &= np.asarray(mask, bool)[::stride, ::stride]
    u, v, z = u[keep], v[keep], z[keep]
    x = (u - intrinsics["cx"]) * z / intrinsics["fx"]
    y = (v - intrinsics["cy"]) * z / intrinsics["fy"]
    points = np.stack([x, y, z], axis=1).astype(np.float32)
    colors = np.asarray(image)[::stride, ::stride][keep].astype(np.uint8) if image is not None else None
    return points, colors


def write_ply(path: str | Path, points: np.ndarray, colors: np.ndarray | None = None) -> Path:
    """Write a binary little-endian PLY point cloud (xyz float32, optional rgb uint8)."""
    points = np.asarray(points, "<f4")
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")] + ([("red", "u1"), ("green", "u1"), ("blue", "u1")] if colors is not None else [])
    rows = np.empty(len(points), dtype=fields)
    rows["x"], rows["y"], rows["z"] = points.T
    if colors is not None:
        rows["red"], rows["green"], rows["blue"] = np.asarray(colors, np.uint8).T
    kinds = {"<f4": "float", "u1": "uchar"}
    header = "ply\nformat binary_little_endian 1.0\n" + f"element vertex {len(points)}\n" + \
        "".join(f"property {kinds[t]} {n}\n" for n, t in fields) + "end_header\n"
    path = Path(path)
    path.write_bytes(header.encode() + rows.tobytes())
    return path


def write_point_cloud(prefix: str | Path, points: np.ndarray, colors: np.ndarray | None = None, intrinsics: dict | None = None) -> dict:
    """Write ``prefix.ply``, ``prefix.xyz.bin`` (float32 xyz interleaved, little-endian: a JS Float32Array),
    ``prefix.rgb.bin`` (uint8 rgb, if colours) and ``prefix.json`` describing them; return that description.
    """
    prefix = Path(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    write_ply(prefix.with_suffix(".ply"), points, colors)
    np.asarray(points, "<f4").tofile(prefix.with_suffix(".xyz.bin"))
    meta = {"count": int(len(points)), "ply": prefix.with_suffix(".ply").name, "xyz": prefix.with_suffix(".xyz.bin").name,
            "dtype": "float32", "layout": "xyz interleaved", "frame": "camera, OpenCV (x right, y down, z forward), metres",
            "bounds": [np.asarray(points).min(axis=0).tolist(), np.asarray(points).max(axis=0).tolist()] if len(points) else None}
    if colors is not None:
        np.asarray(colors, np.uint8).tofile(prefix.with_suffix(".rgb.bin"))
        meta["rgb"] = prefix.with_suffix(".rgb.bin").name
    if intrinsics is not None:
        meta["intrinsics"] = {k: intrinsics[k] for k in ("fx", "fy", "cx", "cy", "width", "height") if k in intrinsics}
    prefix.with_suffix(".json").write_text(json.dumps(meta))
    return meta


def motorcycle_example() -> tuple[np.ndarray, np.ndarray, dict]:
    """Return (left image (H, W, 3) uint8, depth in metres (H, W), intrinsics) of the Middlebury motorcycle."""
    from skimage.data import stereo_motorcycle

    left, _, disparity = stereo_motorcycle()
    c = MOTORCYCLE
    depth = disparity_to_depth(disparity, c["fx"], c["baseline_m"], c["doffs"])
    return left, depth, {k: c[k] for k in ("fx", "fy", "cx", "cy", "width", "height")}


def default_intrinsics(width: int, height: int, fov_degrees: float = 60.0) -> dict:
    """Return pinhole intrinsics for an image without calibration: a stated prior of 60° horizontal field of view."""
    f = width / (2 * np.tan(np.radians(fov_degrees) / 2))
    return {"fx": float(f), "fy": float(f), "cx": width / 2, "cy": height / 2}


# Monocular depth: a hook, because we ship no weights. A user with a local model registers
# ``fn(image (H, W, 3) uint8, intrinsics) -> depth (H, W) metres`` and the engine calls it by name
# (model_suite.depth_anything.DepthAnythingEstimator is one such fn, for Depth Anything checkpoints).
# ``queue`` says where the engine runs it: "gpu" for a model that wants a GPU worker, else "cpu".
_DEPTH_ESTIMATORS: dict[str, Callable[[np.ndarray, dict], np.ndarray]] = {}
_DEPTH_QUEUES: dict[str, str] = {}


def register_depth_estimator(name: str, fn: Callable[[np.ndarray, dict], np.ndarray], queue: str | None = None) -> None:
    """Make a monocular depth model available to ``estimate_depth`` under ``name`` (on ``queue``, else fn.queue, else cpu)."""
    queue = queue or getattr(fn, "queue", "cpu")
    assert queue in ("cpu", "gpu"), f"queue must be 'cpu' or 'gpu', got {queue!r}"
    _DEPTH_ESTIMATORS[name] = fn
    _DEPTH_QUEUES[name] = queue


def unregister_depth_estimator(name: str) -> None:
    """Forget a registered estimator (for tests and notebooks)."""
    _DEPTH_ESTIMATORS.pop(name, None)
    _DEPTH_QUEUES.pop(name, None)


def depth_estimators() -> dict[str, str]:
    """Return {name: queue} of the registered monocular depth estimators."""
    return {name: _DEPTH_QUEUES.get(name, "cpu") for name in _DEPTH_ESTIMATORS}


def estimate_depth(image: np.ndarray, intrinsics: dict, name: str | None = None) -> np.ndarray:
    """Return a (H, W) depth map from a registered monocular estimator (the only one, or the one named)."""
    if not _DEPTH_ESTIMATORS:
        raise LookupError("no monocular depth estimator is registered; call "
                          "model_suite.depth.register_depth_estimator(name, fn) with a local model first")
    if name is None:
        if len(_DEPTH_ESTIMATORS) > 1:
            raise LookupError(f"several depth estimators are registered ({', '.join(_DEPTH_ESTIMATORS)}); pass name=")
        name = next(iter(_DEPTH_ESTIMATORS))
    if name not in _DEPTH_ESTIMATORS:
        raise LookupError(f"no depth estimator named {name!r}; registered: {', '.join(_DEPTH_ESTIMATORS)}")
    depth = np.asarray(_DEPTH_ESTIMATORS[name](image, intrinsics), np.float32)
    assert depth.shape == image.shape[:2], f"estimator {name!r} returned depth {depth.shape} for an image {image.shape[:2]}"
    return depth


def monocular_point_cloud(image: np.ndarray, intrinsics: dict, name: str | None = None, stride: int = 2) -> np.ndarray:
    """Return (P, 3) camera points for an image without stereo or depth, from the registered monocular model."""
    points, _ = depth_to_points(estimate_depth(image, intrinsics, name), intrinsics, stride=stride)
    return points
