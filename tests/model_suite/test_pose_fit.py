"""The fitted starting pose: a mesh rendered at a known pose is found again, from its mask or its points."""

import numpy as np
import pytest
import trimesh
from scipy.spatial.transform import Rotation

from model_suite.depth import depth_to_points
from model_suite.pose_fit import fit_pose, upright_rotations
from model_suite.raycast import PosedSilhouette, mask_iou

K = {"fx": 300.0, "fy": 300.0, "cx": 160.0, "cy": 120.0, "width": 320, "height": 240}


def chair_like():
    """An L of two boxes in the unit cube (y up): its turn about the up axis shows in the silhouette."""
    seat = trimesh.creation.box((0.8, 0.15, 0.8))
    seat.apply_translation((0, -0.1, 0))
    back = trimesh.creation.box((0.8, 0.8, 0.12))
    back.apply_translation((0, 0.1, -0.34))
    mesh = trimesh.util.concatenate([seat, back])
    return np.asarray(mesh.vertices), np.asarray(mesh.faces)


def scene(yaw_degrees=30.0, t=(0.2, 0.1, 2.6), s=1.1):
    v, f = chair_like()
    R = upright_rotations(1, 15.0)[0] @ Rotation.from_euler("y", np.radians(yaw_degrees)).as_matrix()
    truth = {"R": R, "t": np.array(t), "s": s}
    mask = PosedSilhouette(v, f).render(truth, K)
    return v, f, truth, mask


def depth_of(v, f, pose):
    """Return the depth map of the posed mesh (NaN off it), by raycasting."""
    import open3d as o3d

    scene = o3d.t.geometry.RaycastingScene()
    posed = pose["s"] * v @ np.asarray(pose["R"]).T + pose["t"]
    scene.add_triangles(o3d.core.Tensor(posed.astype(np.float32)), o3d.core.Tensor(f.astype(np.uint32)))
    vv, uu = np.mgrid[0:K["height"], 0:K["width"]]
    d = np.stack([(uu - K["cx"]) / K["fx"], (vv - K["cy"]) / K["fy"], np.ones_like(uu, float)], -1).reshape(-1, 3)
    rays = np.hstack([np.zeros_like(d), d]).astype(np.float32)
    t_hit = scene.cast_rays(o3d.core.Tensor(rays))["t_hit"].numpy().reshape(K["height"], K["width"])
    return np.where(np.isfinite(t_hit), t_hit, np.nan)  # the directions have z = 1: t is the depth


def test_from_the_mask_alone_the_silhouette_is_found_again():
    v, f, truth, mask = scene()
    default = {"R": np.eye(3), "t": [0, 0, 2], "s": 1.0}
    assert mask_iou((v, f), default, K, mask) < 0.5
    pose = fit_pose(v, f, mask, K)
    assert pose["iou"] > 0.85 and pose["source"] == "mask+refined"
    assert mask_iou((v, f), pose, K, mask) == pytest.approx(pose["iou"], abs=1e-3)


def test_with_the_object_points_the_depth_is_right_too():
    v, f, truth, mask = scene()
    points, _ = depth_to_points(np.nan_to_num(depth_of(v, f, truth), nan=0.0), K)
    pose = fit_pose(v, f, mask, K, points)
    assert pose["source"] == "point_cloud+refined" and pose["iou"] > 0.85
    assert abs(pose["t"][2] - truth["t"][2]) < 0.25, pose["t"]


def test_a_start_is_refined_rather_than_replaced():
    v, f, truth, mask = scene()
    start = {"R": truth["R"].tolist(), "t": (truth["t"] + [0.05, -0.03, 0.0]).tolist(), "s": truth["s"] * 0.9}
    pose = fit_pose(v, f, mask, K, start=start)
    assert pose["source"] in ("start+refined", "mask+refined") and pose["iou"] > 0.9
    assert np.allclose(np.asarray(pose["R"]) @ np.asarray(truth["R"]).T, np.eye(3), atol=0.2)


def test_an_empty_mask_fits_nothing():
    v, f, _, mask = scene()
    assert fit_pose(v, f, np.zeros_like(mask), K) is None

