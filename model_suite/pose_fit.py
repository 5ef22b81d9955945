"""Stage 3's starting pose: a mesh placed over its object before the annotator touches it.

With a start (the generator's pose, or for an artist's mesh the pose of the candidate it
replaces) the start is refined; otherwise the upright mesh is tried at YAWS turns about its up
axis, each placed by `posing.estimate_pose` (scale and translation from the object's points when
the image has a point cloud, from the mask's box and a depth prior otherwise), and the best by
mask IoU is refined by render and compare (`pose_refine.refine_pose`: translation, scale, yaw).
About 0.1-0.3 s of CPU at the default 160-pixel search resolution (320-pixel composites; 0.3-1 s before
the raycaster cast only the pixels the mesh's box can cover).
"""

from __future__ import annotations

import time

import numpy as np
from scipy.spatial.transform import Rotation

from .pose_refine import downscale, refine_pose
from .posing import estimate_pose, object_points
from .raycast import PosedSilhouette

CAMERA_FROM_UPRIGHT = np.diag([1.0, -1.0, -1.0])  # object (y up, z towards the viewer) -> camera (y down, z forward)
YAWS = 8  # turns tried about the up axis when nothing proposes a rotation
PITCH_DEGREES = 20.0  # seen a little from above, as photographs mostly are
SEARCH_SIDE = 160  # the candidates' IoU is compared at about this longer side


def upright_rotations(yaws=YAWS, pitch=PITCH_DEGREES):
    """Return (yaws, 3, 3) rotations: the upright object turned about its up axis, tilted towards the camera."""
    tilt = Rotation.from_euler("x", np.radians(pitch)).as_matrix()
    return [tilt @ CAMERA_FROM_UPRIGHT @ Rotation.from_euler("y", 2 * np.pi * k / yaws).as_matrix() for k in range(yaws)]


def fit_pose(vertices, faces, mask, intrinsics, point_cloud=None, start=None, iterations=16):
    """Return {"R", "t", "s", "source", "iou", "seconds"}: the mesh placed over `mask`.

    vertices (V, 3), faces (F, 3): the mesh in its object frame (the unit cube, y up);
    mask (H, W) bool; intrinsics with fx, fy, cx, cy (width and height are the mask's);
    point_cloud (P, 3) camera points or None; start {"R", "t", "s"} or None.
    """
    started = time.perf_counter()
    mask = np.asarray(mask, bool)
    h, w = mask.shape
    k = {**intrinsics, "width": w, "height": h}
    factor = max(1, round(max(h, w) / SEARCH_SIDE))
    small, k_small = downscale(mask, k, factor)
    renderer = PosedSilhouette(vertices, faces)
    has_points = object_points(point_cloud, k, mask) is not None
    trials = []
    if start is not None and "R" in start:
        trials.append(({"R": np.asarray(start["R"], float).tolist(), "t": list(map(float, start["t"])),
                        "s": float(start["s"])}, "start"))
        rotations = [np.asarray(start["R"], float)]
    else:
        rotations = upright_rotations()
    for R in rotations:
        placed = estimate_pose(vertices, R, mask, k, point_cloud)
        if placed is not None:
            trials.append((placed, "point_cloud" if has_points else "mask"))
    if not trials:
        return None
    scored = sorted(((renderer.iou(pose, k_small, small), i) for i, (pose, _) in enumerate(trials)), reverse=True)
    best_iou, best = -1.0, None
    for _, i in scored[:2]:  # refine the two best: a mirrored yaw often scores close to the right one
        pose, source = trials[i]
        refined, iou = refine_pose((vertices, faces), pose, k, mask, iterations=iterations, factor=factor)
        if iou > best_iou:
            best_iou, best = iou, ({"R": np.asarray(refined["R"], float).tolist(), "t": list(map(float, refined["t"])),
                                    "s": float(refined["s"])}, source)
    pose, source = best
    return {**pose, "source": f"{source}+refined", "iou": round(float(best_iou), 4),
            "seconds": round(time.perf_counter() - started, 3)}
