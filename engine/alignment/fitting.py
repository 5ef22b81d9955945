"""Fit the pose a Stage 3 task starts from: the mesh placed over its object, before anyone moves it.

A task opens with no fitted pose and is fitted in the background (`tasks.request` sends
`tasks.fit_initial_pose` when the task's transaction commits): a tenth to a third of a second of
raycasting that a Stage 2 submit or an artist's upload should not wait for. Until then the page
starts from the generator's pose, or in front of the camera; once fitted, from `Alignment.initial_pose`.
"""

import logging

import numpy as np

from engine.alignment.models import Alignment
from engine.intake import masks
from model_suite.depth import default_intrinsics

log = logging.getLogger("engine.alignment")


def start_of(alignment):
    """Return the pose the fit starts from: the candidate's own, or for an artist's mesh the one of the candidate it replaces."""
    candidate = alignment.candidate
    if candidate is None:
        case = alignment.task.candidate_set.artist_cases.exclude(best_candidate=None).select_related(
            "best_candidate").order_by("-pk").first() if alignment.task.candidate_set_id else None
        candidate = case.best_candidate if case else None
    pose = candidate.pose if candidate is not None else None
    return pose if pose and "R" in pose else None


def fit(alignment_id):
    """Fit and store the starting pose of an alignment (idempotent); return it, or None when it cannot be fitted."""
    from model_suite.meshio import load_mesh
    from model_suite.pose_fit import fit_pose

    alignment = Alignment.objects.select_related("task__image", "task__object", "task__candidate_set", "candidate",
                                                 "artist_mesh").filter(pk=alignment_id).first()
    if alignment is None or alignment.initial_pose is not None:
        return alignment.initial_pose if alignment else None
    image, obj = alignment.task.image, alignment.task.object
    with alignment.mesh_file.open("rb") as f:
        vertices, faces = load_mesh(f.read())
    mask = masks.decode(obj.mask_rle)
    intrinsics = image.intrinsics or default_intrinsics(image.width, image.height)
    cloud = None
    if image.point_cloud:
        with image.point_cloud.open("rb") as f:
            cloud = np.frombuffer(f.read(), "<f4").reshape(-1, 3)
    pose = fit_pose(vertices, faces, mask, intrinsics, cloud, start=start_of(alignment))
    if pose is None:
        log.warning("alignment %s: no pose fits an empty mask", alignment_id)
        return None
    # Only the first fit is kept: a fit sent twice (a retry racing the first) writes nothing twice.
    Alignment.objects.filter(pk=alignment_id, initial_pose__isnull=True).update(initial_pose=pose)
    log.info("alignment %s: starting pose fitted from %s, mask IoU %.3f in %.2f s", alignment_id, pose["source"],
             pose["iou"], pose["seconds"])
    return pose
