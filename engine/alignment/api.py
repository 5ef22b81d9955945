"""Stage 3 endpoints: the mesh, the point cloud and the camera; the submitted pose."""

import math

from engine.alignment import services
from engine.alignment.pose import quaternion_from_matrix
from engine.core.errors import EngineError
from engine.intake import point_maps
from engine.intake.api import image_json, object_json
from model_suite.depth import default_intrinsics


def initial_pose(alignment, image):
    """Return the pose the page starts from: the fitted one (engine/alignment/fitting.py) once there is one,
    else the generator's when it proposed one, else in front of the camera."""
    fitted = alignment.initial_pose
    proposed = fitted or (alignment.candidate.pose if alignment.candidate_id else None)
    if proposed and "R" in proposed:
        return {"rotation": {"quaternion": quaternion_from_matrix(proposed["R"]).tolist()},
                "translation": list(proposed["t"]), "scale": float(proposed["s"])}
    return {"rotation": {"quaternion": [1.0, 0.0, 0.0, 0.0]}, "translation": [0.0, 0.0, 2.0], "scale": 1.0}


def initial_pose_note(alignment):
    """Say where the starting pose comes from, for the page."""
    fitted = alignment.initial_pose
    if fitted:
        how = "the object's points" if str(fitted.get("source", "")).startswith("point_cloud") else \
            "the candidate's pose" if str(fitted.get("source", "")).startswith("start") else "the object's mask"
        return {"source": fitted.get("source"), "iou": fitted.get("iou"), "fitted": True,
                "text": f"Start fitted to {how} (mask IoU {100 * float(fitted.get('iou', 0)):.0f} %)."}
    proposed = alignment.candidate.pose if alignment.candidate_id else None
    if proposed and "R" in proposed:
        return {"source": proposed.get("source", "generator"), "iou": None, "fitted": False,
                "text": "Start: the generator's pose (the fitted one is on its way)."}
    return {"source": "default", "iou": None, "fitted": False,
            "text": "Start: in front of the camera (the fitted pose is on its way)."}


def align_payload(task, request):
    alignment = task.alignment
    image = task.image
    # A stated prior when the image has no calibration: 60° horizontal field of view.
    intrinsics = image.intrinsics or default_intrinsics(image.width, image.height)
    return {
        "image": image_json(image), "object": object_json(task.object),
        "mesh_url": alignment.mesh_file.url,
        "point_cloud_url": image.point_cloud.url if image.point_cloud else None,
        "point_cloud_format": "float32-xyz" if image.point_cloud else None,
        "point_cloud_source": (image.depth_source or "upload") if image.point_cloud else None,
        "point_cloud_note": point_maps.note(image),
        "intrinsics": {**intrinsics, "width": image.width, "height": image.height},
        "initial_pose": initial_pose(alignment, image),
        "initial_pose_note": initial_pose_note(alignment),
        "convention": "OpenCV camera coordinates (x right, y down, z forward); p_cam = scale * R @ p_obj + t; "
                      "quaternion [w, x, y, z].",
    }


def submit_align(request, pk, key):
    # The pose parsers (engine/alignment/pose.py) check every field and name it in their errors;
    # this endpoint is the hot path of the claim benchmark, so no serializer repeats their work.
    data = request.data if isinstance(request.data, dict) else {}
    seconds = data.get("seconds", 0.0)
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds) or seconds < 0:
        raise EngineError("seconds must be a finite number of seconds, at least 0.",
                          fields={"seconds": ["must be a finite number at least 0"]})
    return services.submit(pk, request.user, data.get("rotation"), data.get("translation"), data.get("scale"), seconds,
                           key, served=initial_pose)
