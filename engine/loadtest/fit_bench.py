"""How much a fitted starting pose saves the annotator: simulated alignment from each kind of start.

The simulated annotator presses the Stage 3 page's keys (translate 1 cm or 10 cm along a camera
axis, turn 1 deg or 10 deg about one, scale 1 % or 10 %), each time the key that raises the mask IoU
most, as a person watching the IoU indicator would, until the IoU reaches TARGET, nothing raises it
(stuck), or MAX_PRESSES. The scene is a render-paste composite (engine/simulation) with the true
mesh, so the target is reachable; IoU is computed at about SIDE pixels.
"""

from __future__ import annotations

import time

import numpy as np
from scipy.spatial.transform import Rotation

from model_suite.pose_fit import fit_pose, upright_rotations
from model_suite.pose_refine import downscale
from model_suite.posing import estimate_pose
from model_suite.raycast import PosedSilhouette

TARGET = 0.8
MAX_PRESSES = 150
SIDE = 96
SECONDS_PER_PRESS = 0.6  # a key press and a look at the result (stated, not measured)


def actions():
    """Return the page's key presses as functions of a pose."""
    out = []
    for axis in range(3):
        for step in (0.01, 0.1):
            for sign in (1, -1):
                def move(pose, axis=axis, d=sign * step):
                    t = np.array(pose["t"], float)
                    t[axis] += d
                    return {**pose, "t": t}
                out.append(move)
        for degrees in (1.0, 10.0):
            for sign in (1, -1):
                def turn(pose, axis=axis, a=np.radians(sign * degrees)):
                    turn_by = Rotation.from_rotvec(np.eye(3)[axis] * a).as_matrix()
                    return {**pose, "R": turn_by @ np.asarray(pose["R"], float)}  # about the camera's axes
                out.append(turn)
    for factor in (1.01, 1 / 1.01, 1.1, 1 / 1.1):
        out.append(lambda pose, f=factor: {**pose, "s": pose["s"] * f})
    return out


def simulate(renderer, pose, intrinsics, mask):
    """Return (key presses to reach TARGET or MAX_PRESSES, final IoU, reached)."""
    keys = actions()
    pose = {"R": np.asarray(pose["R"], float), "t": np.asarray(pose["t"], float), "s": float(pose["s"])}
    iou = renderer.iou(pose, intrinsics, mask)
    presses = 0
    while iou < TARGET and presses < MAX_PRESSES:
        trials = [(renderer.iou(p, intrinsics, mask), p) for p in (key(pose) for key in keys)]
        best_iou, best = max(trials, key=lambda x: x[0])
        if best_iou <= iou + 1e-4:
            return MAX_PRESSES, iou, False  # stuck: no key raises the IoU
        pose, iou = best, best_iou
        presses += 1
    return presses, iou, iou >= TARGET


def starts(shape, composite, intrinsics, cloud, rng):
    """Return {name: (pose, seconds to compute it)} of the starts compared."""
    out = {"default (t = 0,0,2, s = 1: artist meshes before)": ({"R": np.eye(3), "t": [0.0, 0.0, 2.0], "s": 1.0}, 0.0)}
    R = upright_rotations()[int(rng.integers(8))]
    out["placed on the mask's box, any yaw (a generator's estimate)"] = (
        estimate_pose(shape.vertices, R, composite.mask, intrinsics, None), 0.0)
    for name, points in (("fitted to the mask", None), ("fitted to the point cloud", cloud)):
        started = time.process_time()
        pose = fit_pose(shape.vertices, shape.faces, composite.mask, intrinsics, points)
        out[name] = (pose, time.process_time() - started)
    return out


def run(count=6, seed=11, size=320, target=None):
    """Return the figures: per start, presses and seconds to the target, share reached, fit CPU seconds."""
    global TARGET
    TARGET = target or TARGET
    from engine.simulation.composites import load_photos, procedural_shapes, render
    from model_suite.depth import depth_to_points

    photos = list(load_photos().values())
    rows = {}
    for i, shape in enumerate(procedural_shapes(count, seed)):
        rng = np.random.default_rng([seed, i])
        composite = render(shape, photos, rng, size)
        k = {**composite.intrinsics, "width": size, "height": size}
        cloud, _ = depth_to_points(np.nan_to_num(composite.depth, nan=0.0), composite.intrinsics)
        renderer = PosedSilhouette(shape.vertices, shape.faces)
        small, k_small = downscale(composite.mask, k, max(1, round(size / SIDE)))
        for name, (pose, seconds) in starts(shape, composite, k, cloud, rng).items():
            presses, iou, reached = simulate(renderer, pose, k_small, small)
            # The mask IoU cannot see depth (nearer and smaller looks the same): the 3D error says what it misses.
            depth_error = abs(float(np.asarray(pose["t"], float)[2]) - float(composite.translation[2]))
            rows.setdefault(name, []).append({"object": f"{shape.category}-{i}", "start_iou": round(
                renderer.iou(pose, k_small, small), 3), "presses": presses, "final_iou": round(iou, 3),
                "reached": reached, "fit_cpu_s": round(seconds, 3), "start_depth_error_m": round(depth_error, 3)})
    figures = {}
    for name, runs in rows.items():
        presses = [r["presses"] for r in runs]
        figures[name] = {
            "start_iou_mean": round(float(np.mean([r["start_iou"] for r in runs])), 3),
            "start_depth_error_m_mean": round(float(np.mean([r["start_depth_error_m"] for r in runs])), 3),
            "reached_target": f"{sum(r['reached'] for r in runs)}/{len(runs)}",
            "presses_mean": round(float(np.mean(presses)), 1), "presses_median": float(np.median(presses)),
            "annotator_seconds_mean": round(float(np.mean(presses)) * SECONDS_PER_PRESS, 1),
            "fit_cpu_seconds_mean": round(float(np.mean([r["fit_cpu_s"] for r in runs])), 3),
            "per_object": runs,
        }
    return figures
