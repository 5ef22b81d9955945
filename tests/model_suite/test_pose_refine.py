import numpy as np
import trimesh

from model_suite.pose_refine import downscale, refine_pose
from model_suite.raycast import mask_iou, render_mask, view_rotation


def test_refinement_recovers_a_perturbed_pose(camera):
    m = trimesh.creation.box((0.6, 1.0, 0.3))
    mesh = (np.asarray(m.vertices, np.float32), np.asarray(m.faces, np.int32))
    truth = {"R": view_rotation(0.6, 0.2).tolist(), "t": [0.1, 0.0, 4.0], "s": 1.0}
    mask = render_mask(*mesh, truth, camera)
    start = {"R": view_rotation(0.8, 0.2).tolist(), "t": [0.25, 0.1, 4.0], "s": 0.8}
    before = mask_iou(mesh, start, camera, mask)
    pose, after = refine_pose(mesh, start, camera, mask, factor=2)
    assert after > before + 0.2 and after > 0.85, (before, after)
    assert set(pose) >= {"R", "t", "s"}


def test_downscale_keeps_the_projection_consistent(camera):
    m = trimesh.creation.box((1, 1, 1))
    mesh = (np.asarray(m.vertices, np.float32), np.asarray(m.faces, np.int32))
    pose = {"R": np.eye(3).tolist(), "t": [0.3, -0.2, 5.0], "s": 1.0}
    full = render_mask(*mesh, pose, camera)
    small, k = downscale(full, camera, 2)
    assert small.shape == (60, 80) and mask_iou(mesh, pose, k, small) > 0.85  # edges quantized to 2 px
