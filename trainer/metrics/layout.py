"""Layout metrics, as published: 3D IoU of axis-aligned boxes, rotation error, ADD-S, ADD-S@0.1.

Poses map the object frame to the camera: p_cam = s R p_obj + t (OpenCV camera).
  box IoU    = vol(A n B) / vol(A u B) of the axis-aligned camera-frame boxes of the posed shapes
  rot. error = arccos((tr(R_a^T R_b) - 1) / 2) in degrees (geodesic angle); the ICP variant first
               composes the predicted rotation with the ICP alignment of the predicted shape to the
               ground-truth shape, R_eff = R_pred R_icp^T, so shape mis-registration is not counted
  ADD-S      = mean over ground-truth posed points x of min_y ||x - y|| over predicted posed points,
               divided by the ground-truth diameter (largest distance between its posed points);
               the symmetric ("S") form of ADD (Hinterstoisser et al. 2012, PoseCNN), so a pose that
               differs by a symmetry of the object scores 0. Only the ground-truth points are averaged:
               extra predicted geometry far from the ground truth is not penalised (Chamfer does that)
  ADD-S@0.1  = 1 if ADD-S < 0.1 else 0 (averaged over a dataset: the share of successes)
"""
from __future__ import annotations

import numpy as np
from scipy.spatial import ConvexHull

from .shape import nn_distances


def pose_points(points: np.ndarray, R, t, s: float) -> np.ndarray:
    """(n, 3) object-frame points -> camera frame."""
    return float(s) * points @ np.asarray(R).T + np.asarray(t)


def box_iou_3d(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of the axis-aligned bounding boxes of two point sets."""
    lo_a, hi_a, lo_b, hi_b = a.min(0), a.max(0), b.min(0), b.max(0)
    inter = np.prod(np.clip(np.minimum(hi_a, hi_b) - np.maximum(lo_a, lo_b), 0, None))
    union = np.prod(hi_a - lo_a) + np.prod(hi_b - lo_b) - inter
    return float(inter / union) if union > 0 else 0.0


def rotation_error_deg(R_a, R_b) -> float:
    """Geodesic angle between two rotations, degrees."""
    c = (np.trace(np.asarray(R_a).T @ np.asarray(R_b)) - 1) / 2
    return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))


def diameter(points: np.ndarray) -> float:
    """Largest distance between two points (over the convex hull's vertices)."""
    try:
        pts = points[ConvexHull(points).vertices]
    except Exception:   # degenerate (flat) sets: use all points
        pts = points
    d = np.sqrt(((pts[:, None] - pts[None]) ** 2).sum(-1))
    return float(d.max())


def add_s(pred_posed: np.ndarray, gt_posed: np.ndarray) -> float:
    """ADD-S normalised by the ground-truth diameter: mean_{x in gt} min_{y in pred} ||x - y|| / diam(gt)."""
    return float(nn_distances(gt_posed, pred_posed).mean() / max(diameter(gt_posed), 1e-12))


def layout_metrics(pred_points: np.ndarray, gt_points: np.ndarray, pred_pose: tuple, gt_pose: tuple,
                   R_icp: np.ndarray | None = None) -> dict:
    """Layout metrics of one object. Points are object-frame surface samples; poses are (R, t, s)."""
    P, Q = pose_points(pred_points, *pred_pose), pose_points(gt_points, *gt_pose)
    R_eff = np.asarray(pred_pose[0]) if R_icp is None else np.asarray(pred_pose[0]) @ np.asarray(R_icp).T
    a = add_s(P, Q)
    return {"box_iou": box_iou_3d(P, Q), "rot_err_deg": rotation_error_deg(R_eff, gt_pose[0]),
            "add_s": a, "add_s@0.1": float(a < 0.1)}
