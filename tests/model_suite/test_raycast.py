import numpy as np
import trimesh

from model_suite.raycast import PosedSilhouette, canonical_views, mask_iou, orthographic_silhouettes, render_mask, view_rotation

K = dict(fx=200.0, fy=200.0, cx=64.0, cy=48.0, width=128, height=96)


def _cube():
    m = trimesh.creation.box((1, 1, 1))
    return np.asarray(m.vertices, np.float32), np.asarray(m.faces, np.int32)


def test_a_cube_facing_the_camera_projects_to_the_expected_square():
    # a unit cube 4 m ahead spans 200 * 1 / 3.5 .. 200 * 1 / 4.5 pixels: its front face is 57 px wide
    mask = render_mask(*_cube(), {"R": np.eye(3), "t": [0, 0, 4.0], "s": 1.0}, K)
    cols = np.flatnonzero(mask.any(axis=0))
    assert abs(len(cols) - 200 / 3.5) <= 2
    assert abs(cols.mean() - K["cx"]) <= 1


def test_mask_iou_is_one_for_its_own_silhouette_and_drops_when_shifted():
    mesh = _cube()
    pose = {"R": view_rotation(0.4, 0.3), "t": [0, 0, 5.0], "s": 1.0}
    mask = render_mask(*mesh, pose, K)
    assert mask_iou(mesh, pose, K, mask) == 1.0
    shifted = {**pose, "t": [0.5, 0, 5.0]}
    assert 0.2 < mask_iou(mesh, shifted, K, mask) < 0.8
    assert mask_iou(mesh, {**pose, "t": [0, 0, -5.0]}, K, mask) == 0.0  # behind the camera


def test_scale_in_the_pose_scales_the_silhouette():
    mesh = _cube()
    small = render_mask(*mesh, {"R": np.eye(3), "t": [0, 0, 10.0], "s": 1.0}, K).sum()
    large = render_mask(*mesh, {"R": np.eye(3), "t": [0, 0, 10.0], "s": 2.0}, K).sum()
    assert 3.0 < large / small < 5.0


def test_view_rotations_are_proper_and_keep_the_object_upright():
    for R in canonical_views():
        assert np.allclose(R @ R.T, np.eye(3), atol=1e-9) and np.isclose(np.linalg.det(R), 1)
        assert (R @ [0, 1, 0])[1] < 0  # object up is image up (camera y points down)


def test_orthographic_silhouettes_of_a_tall_box_are_tall():
    m = trimesh.creation.box((0.3, 1.0, 0.3))
    sil = orthographic_silhouettes(m.vertices, m.faces, np.stack([view_rotation(0, 0)]), size=64)[0]
    rows, cols = np.flatnonzero(sil.any(axis=1)), np.flatnonzero(sil.any(axis=0))
    assert len(rows) > 2.5 * len(cols)


def _every_pixel(mesh, pose, intrinsics):
    """The silhouette by casting a ray through every pixel to its nearest hit: the reference the renderer must equal."""
    import open3d as o3d

    posed = pose["s"] * np.asarray(mesh[0], float) @ np.asarray(pose["R"], float).T + pose["t"]
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(posed.astype(np.float32)), o3d.core.Tensor(np.asarray(mesh[1], np.uint32)))
    v, u = np.mgrid[0:intrinsics["height"], 0:intrinsics["width"]]
    d = np.stack([(u - intrinsics["cx"]) / intrinsics["fx"], (v - intrinsics["cy"]) / intrinsics["fy"],
                  np.ones(u.shape)], axis=-1).reshape(-1, 3)
    rays = np.hstack([np.zeros_like(d), d]).astype(np.float32)
    hit = np.isfinite(scene.cast_rays(o3d.core.Tensor(rays))["t_hit"].numpy())
    return hit.reshape(intrinsics["height"], intrinsics["width"])


def test_the_windowed_silhouette_equals_casting_every_pixel():
    # Poses near, far, off the image's edge, straddling the camera (the box partly behind it) and behind it.
    m = trimesh.creation.annulus(0.2, 0.5, 0.6)
    mesh = (np.asarray(m.vertices), np.asarray(m.faces))
    renderer = PosedSilhouette(*mesh)
    rng = np.random.default_rng(0)
    poses = [{"R": view_rotation(*rng.uniform(-np.pi, np.pi, 2)), "t": [*rng.uniform(-1.5, 1.5, 2), z],
              "s": rng.uniform(0.5, 2.0)} for z in (0.3, 1.0, 2.5, 6.0, 20.0) for _ in range(6)]
    poses += [{"R": np.eye(3), "t": [0.0, 0.0, 0.1], "s": 1.0}, {"R": np.eye(3), "t": [0.0, 0.0, -3.0], "s": 1.0},
              {"R": np.eye(3), "t": [40.0, 0.0, 2.0], "s": 1.0}]
    for pose in poses:
        expected = _every_pixel(mesh, pose, K)
        assert (renderer.render(pose, K) == expected).all(), pose
        mask = np.roll(expected, 3, axis=1)
        union = (expected | mask).sum()
        assert renderer.iou(pose, K, mask) == ((expected & mask).sum() / union if union else 0.0)
    assert renderer.window({"R": np.eye(3), "t": [0.0, 0.0, -3.0], "s": 1.0}, K) is None
