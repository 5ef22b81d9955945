"""Turn raw generator output into finished candidates: normalized, checked, simplified, timed."""

from __future__ import annotations

import time

import numpy as np

from .base import CandidateMesh, Generator
from .meshproc import DEFAULT_BUDGET, prepare_candidate


def make_candidate(generator: Generator, vertices: np.ndarray, faces: np.ndarray, seed: int, started: float,
                   pose: dict | None = None, checkpoint: str | None = None, budget: int = DEFAULT_BUDGET, **extra) -> CandidateMesh:
    """Return a CandidateMesh with the generator's provenance, timed from ``started`` (a perf_counter value).

    The mesh must already be in the object frame; this re-centres it in the unit cube and, when a
    pose is given, folds that small change of frame into the pose so the posed mesh stays put.
    """
    lo, hi = np.min(vertices, axis=0).astype(float), np.max(vertices, axis=0).astype(float)
    v, f = prepare_candidate(vertices, faces, budget)
    if pose is not None:
        # v_old = v * k + c  =>  s R v_old + t = (s k) R v + (t + s R c)
        c, k = (lo + hi) / 2, float((hi - lo).max())
        R = np.asarray(pose["R"], float)
        pose = {**pose, "R": R.tolist(), "s": float(pose["s"]) * k,
                "t": (np.asarray(pose["t"], float) + float(pose["s"]) * R @ c).tolist()}
    return CandidateMesh(v, f, generator.name, generator.version, generator.kind, int(seed), checkpoint,
                         time.perf_counter() - started, pose, dict(extra))


def refined(candidate: CandidateMesh, intrinsics: dict, mask: np.ndarray) -> CandidateMesh:
    """Refine the candidate's pose against the mask in place (render and compare); record IoU before and after."""
    from .pose_refine import refine_pose
    from .raycast import mask_iou

    if candidate.pose is None or not np.asarray(mask).any():
        return candidate
    started = time.perf_counter()
    mesh = (candidate.vertices, candidate.faces)
    before = mask_iou(mesh, candidate.pose, intrinsics, mask)
    pose, after = refine_pose(mesh, candidate.pose, intrinsics, mask)
    if after > before:
        candidate.pose = {**pose, "source": f"{candidate.pose.get('source', 'estimate')}+refined"}
    candidate.extra["mask_iou"] = round(max(before, after), 4)
    candidate.extra["mask_iou_initial"] = round(before, 4)
    candidate.seconds += time.perf_counter() - started
    return candidate
