"""A point map for every image Stage 3 sees: images ingested without depth get one from the monocular estimator.

The estimator is the one registered with model_suite.depth (MODEL_SUITE["depth_model"] registers
one when the engine starts; see model_suite/README.md). At ingest, an image without depth is
queued for it: a Celery job (engine.intake.tasks.estimate_point_map) on the estimator's queue,
`gpu` for a model that wants a GPU worker, run in-process without Redis. The depth it predicts
is stored as an uploaded depth map would be (attach_depth), with `depth_source`
"estimated:NAME". Without an estimator nothing is faked: the image has no point cloud, and
Stage 3 says so.
"""

import logging

import numpy as np
from django.conf import settings
from django.db import transaction

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


def request(image):
    """Queue a point map for an image that has no depth, once the caller's transaction commits; return what happens.

    Returns "queued:NAME" or "none" (no estimator: the image stays without a point cloud).
    """
    if image.depth:
        return image.depth_source or "upload"
    found = estimator()
    if found is None:
        return "none"
    name, queue = found
    from engine.intake.tasks import estimate_point_map

    transaction.on_commit(lambda: estimate_point_map.apply_async((image.pk,), queue=queue), robust=True)
    return f"queued:{name}"


def estimate(image_id, stride=2):
    """Give an image without depth the point map of the registered estimator; return its depth_source, or why not.

    Idempotent: an image that has depth by now (uploaded, or an earlier run) is left alone.
    """
    from model_suite.depth import default_intrinsics, estimate_depth

    from engine.intake.rendering import load_rgb
    from engine.intake.services import attach_depth

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
