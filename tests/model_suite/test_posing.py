import numpy as np
import trimesh

from model_suite.posing import DEPTH_PRIOR_M, estimate_pose, object_points, virtual_intrinsics
from model_suite.raycast import mask_iou, pose_vertices, render_mask, view_rotation


def _cube():
    m = trimesh.creation.box((1, 1, 1))
    return np.asarray(m.vertices, np.float32), np.asarray(m.faces, np.int32)


def test_pose_from_mask_alone_uses_the_depth_prior_and_covers_the_mask(camera):
    mesh = _cube()
    truth = {"R": np.eye(3), "t": [0.3, -0.1, 6.0], "s": 1.5}
    mask = render_mask(*mesh, truth, camera)
    pose = estimate_pose(mesh[0], np.eye(3), mask, camera)
    assert pose["source"].startswith("depth_prior")
    assert np.isclose(pose_vertices(mesh[0], pose)[:, 2].min(), DEPTH_PRIOR_M)  # the front face sits at the prior
    assert mask_iou(mesh, pose, camera, mask) > 0.8  # right up to the unknown depth scale


def test_pose_from_points_recovers_translation_and_scale(camera):
    mesh = _cube()
    truth = {"R": view_rotation(0.3, 0.2), "t": [0.2, 0.1, 5.0], "s": 1.2}
    mask = render_mask(*mesh, truth, camera)
    surface, _ = trimesh.sample.sample_surface(trimesh.Trimesh(*mesh), 20000, seed=0)
    cam_pts = 1.2 * surface @ np.asarray(truth["R"]).T + truth["t"]
    pts = cam_pts[cam_pts[:, 2] < 5.0]  # roughly the camera-facing half
    pose = estimate_pose(mesh[0], truth["R"], mask, camera, pts)
    assert pose["source"] == "point_cloud"
    assert np.allclose(pose["t"], truth["t"], atol=0.25) and abs(pose["s"] - 1.2) < 0.2
    assert mask_iou(mesh, pose, camera, mask) > 0.75


def test_object_points_keep_only_what_falls_in_the_mask(camera):
    mask = np.zeros((120, 160), bool)
    mask[:, :80] = True
    pts = np.array([[-1.0, 0, 5]] * 30 + [[1.0, 0, 5]] * 30)
    assert (object_points(pts, camera, mask)[:, 0] < 0).all()
    assert object_points(None, camera, mask) is None


def test_virtual_intrinsics_centre_the_principal_point():
    k = virtual_intrinsics(100, 200)
    assert (k["cx"], k["cy"], k["fx"], k["width"], k["height"]) == (100.0, 50.0, 200.0, 200, 100)
