"""A point map for every image Stage 3 sees: images ingested without depth get one from the monocular estimator.

Depth maps, uploaded or estimated, become the point cloud Stage 3 loads here (`attach_depth`).
The estimator is the one registered with model_suite.depth (MODEL_SUITE["depth_model"] registers
one when the engine starts; see model_suite/README.md). At ingest, an image without depth is
queued for it (services.request_point_map): a Celery job (engine.intake.tasks.estimate_point_map,
which runs `estimate`) on the estimator's queue,
`gpu` for a model that wants a GPU worker, run in-process without Redis. The depth it predicts
is stored as an uploaded depth map would be (attach_depth), with `depth_source`
"estimated:NAME". Without an estimator nothing is faked: the image has no point cloud, and
Stage 3 says so.
"""

import io
import logging
from functools import partial

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction

from engine.core import transactions
from engine.core.errors import EngineError
from engine.intake.models import Image

log = logging.getLogger(__name__)

NONE = ("No point cloud: this image has no depth, and no monocular depth estimator is registered "
        "(MODEL_SUITE['depth_model']). Align by the image and the mesh IoU.")
PENDING = ("No point cloud yet: the depth estimate of this image has not finished. Align by the image and the "
           "mesh IoU, or skip the task and come back to it.")
ESTIMATED = ("The point cloud was estimated from this single image by {name} (monocular depth): its scale may be "
             "off. Where it and the photograph disagree, trust the image and the mesh IoU.")


def register_configured():
    """Register the estimator MODEL_SUITE["depth_model"] names, if any (weights load on first use); return its name."""
    from model_suite.depth import register_depth_estimator
    from model_suite.registry import build_depth_estimator

    estimator = build_depth_estimator(getattr(settings, "MODEL_SUITE", {}))
    if estimator is None:
        return None
    register_depth_estimator(estimator.name, estimator, queue=getattr(estimator, "queue", "cpu"))
    return estimator.name


def estimator():
    """Return (name, queue) of the registered estimator, or None; with several, the first registered."""
    from model_suite.depth import depth_estimators

    registered = depth_estimators()
    if not registered:
        return None
    name = next(iter(registered))
    return name, registered[name]


def estimate(image_id, stride=2):
    """Give an image without depth the point map of the registered estimator; return its depth_source, or why not.

    Idempotent: an image that has depth by now (uploaded, or an earlier run) is left alone.
    """
    from model_suite.depth import default_intrinsics, estimate_depth

    from engine.intake.rendering import load_rgb

    image = Image.objects.filter(pk=image_id).first()
    if image is None:
        return "image deleted"
    if image.depth:
        return image.depth_source or "upload"
    found = estimator()
    if found is None:
        return "none"
    name = found[0]
    rgb = load_rgb(image)
    intrinsics = image.intrinsics or default_intrinsics(image.width, image.height)
    depth = estimate_depth(rgb, intrinsics, name)
    if not np.isfinite(depth).any() or not (depth[np.isfinite(depth)] > 0).any():
        log.warning("depth estimator %s gave no positive depth for image %s; no point map", name, image.pk)
        return "no depth predicted"
    attach_depth(image, depth, intrinsics, stride=stride, source=f"estimated:{name}")
    log.info("point map of image %s estimated by %s", image.pk, name)
    return image.depth_source


def note(image):
    """Return what Stage 3 tells the annotator about the image's point cloud ("" for a measured one)."""
    if image.point_cloud:
        source = image.depth_source or "upload"
        return ESTIMATED.format(name=source.split(":", 1)[1]) if source.startswith("estimated:") else ""
    return PENDING if estimator() is not None else NONE


def parse_depth(data):
    """Return a float32 (H, W) depth map in metres from .npy bytes, or raise EngineError."""
    try:
        depth = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise EngineError("depth must be a .npy file of an (H, W) float array in metres.",
                          fields={"depth": [str(exc)]}) from None
    if depth.ndim != 2 or not np.issubdtype(depth.dtype, np.number):
        raise EngineError(f"depth must be an (H, W) numeric array, got shape {depth.shape} of {depth.dtype}.",
                          fields={"depth": ["wrong shape or type"]})
    return depth.astype(np.float32)


def attach_depth(image, depth, intrinsics, stride=1, source="upload"):
    """Store an image's depth map and intrinsics and derive its point cloud (float32 xyz, camera frame).

    `source` says where the depth came from: "upload" (given with the image), or "estimated:NAME"
    (the monocular estimator NAME, `estimate`).

    Files of an earlier depth map are deleted once the new ones are committed, and kept if they are not.
    """
    from model_suite.depth import depth_to_points

    if depth.shape != (image.height, image.width):
        raise EngineError(f"depth is {depth.shape[1]}x{depth.shape[0]} but the image is {image.width}x{image.height}.",
                          fields={"depth": ["size differs from the image"]})
    keys = ("fx", "fy", "cx", "cy")
    try:
        intrinsics = {k: float(intrinsics[k]) for k in keys}
    except (KeyError, TypeError, ValueError):
        raise EngineError("intrinsics must give fx, fy, cx, cy in pixels.", fields={"intrinsics": ["missing"]}) from None
    if intrinsics["fx"] <= 0 or intrinsics["fy"] <= 0:
        raise EngineError("intrinsics fx and fy must be positive.", fields={"intrinsics": ["not positive"]})
    points, _ = depth_to_points(depth, intrinsics, stride=stride)
    buffer = io.BytesIO()
    np.save(buffer, depth)
    cloud = np.asarray(points, "<f4").tobytes()
    with transactions.atomic():
        # The names the row holds now, not those of the caller's copy (which may be stale); the lock
        # makes a concurrent re-attach wait, so each replaced file is deleted by the one that replaced it.
        replaced = Image.objects.select_for_update().values_list("depth", "point_cloud").get(pk=image.pk)
        # As in ingest: each file goes again if the row that names it is not kept (the second file or
        # the row fails, or the caller's transaction, ingest's say, rolls back).
        for field, name, content in ((image.depth, f"depth-{image.pk}.npy", buffer.getvalue()),
                                     (image.point_cloud, f"cloud-{image.pk}.bin", cloud)):
            field.save(name, ContentFile(content), save=False)
            transactions.on_rollback(partial(field.storage.delete, field.name))
        image.intrinsics = intrinsics
        image.depth_source = source[:100]
        image.save(update_fields=["depth", "point_cloud", "intrinsics", "depth_source"])
        # The old files go only once nothing can bring their row back: after the commit (Django drops
        # the callback if this block or the caller's transaction rolls back). A name the storage gave
        # again (its file was already gone) is the new file's. Robust: a file that fails to go is logged
        # by Django and left behind, which is no reason to fail a caller whose rows are committed.
        for field, old_name in zip((image.depth, image.point_cloud), replaced, strict=True):
            if old_name and old_name != field.name:
                transaction.on_commit(partial(field.storage.delete, old_name), robust=True)
