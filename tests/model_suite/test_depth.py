import json

import numpy as np
import pytest

from model_suite.depth import (depth_to_points, disparity_to_depth, estimate_depth, monocular_point_cloud, motorcycle_example,
                               register_depth_estimator, write_point_cloud)

K = dict(fx=100.0, fy=100.0, cx=2.0, cy=1.5, width=4, height=3)


def test_disparity_to_depth_follows_the_stereo_formula():
    d = np.array([[10.0, 0.0, np.inf, np.nan]])
    z = disparity_to_depth(d, focal=1000.0, baseline=0.2, doffs=10.0)
    assert np.isclose(z[0, 0], 0.2 * 1000 / 20) and np.isclose(z[0, 1], 20.0)
    assert np.isnan(z[0, 2]) and np.isnan(z[0, 3])


def test_depth_to_points_backprojects_through_the_pinhole():
    depth = np.full((3, 4), 2.0, np.float32)
    depth[0, 0] = np.nan
    points, colors = depth_to_points(depth, K, image=np.full((3, 4, 3), 7, np.uint8))
    assert len(points) == 11 and colors.shape == (11, 3)
    # reprojecting gives back the pixel grid
    u = points[:, 0] * K["fx"] / points[:, 2] + K["cx"]
    v = points[:, 1] * K["fy"] / points[:, 2] + K["cy"]
    assert np.allclose(np.sort(u), np.sort(np.mgrid[0:3, 0:4][1].ravel()[1:]))
    assert np.allclose(sorted(v), sorted(np.mgrid[0:3, 0:4][0].ravel()[1:]))


def test_mask_selects_points():
    mask = np.zeros((3, 4), bool)
    mask[1, 2] = True
    points, _ = depth_to_points(np.ones((3, 4)), K, mask=mask)
    assert np.allclose(points, [[0.0, -0.005, 1.0]])


def test_motorcycle_gives_a_metric_point_cloud_in_both_formats(tmp_path):
    image, depth, intrinsics = motorcycle_example()
    points, colors = depth_to_points(depth, intrinsics, image=image, stride=4)
    assert np.nanmin(depth) > 1.0 and np.nanmax(depth) < 10.0  # the scene is a few metres deep
    meta = write_point_cloud(tmp_path / "moto", points, colors, intrinsics)
    xyz = np.fromfile(tmp_path / meta["xyz"], "<f4").reshape(-1, 3)
    assert np.array_equal(xyz, points) and meta["count"] == len(points)
    assert json.loads((tmp_path / "moto.json").read_text())["intrinsics"]["fx"] == intrinsics["fx"]
    import open3d as o3d

    cloud = o3d.io.read_point_cloud(str(tmp_path / "moto.ply"))
    assert np.allclose(np.asarray(cloud.points), points)
    assert np.allclose(np.asarray(cloud.colors) * 255, colors, atol=0.5)


def test_monocular_hook_reports_absence_then_calls_the_registered_model(monkeypatch):
    monkeypatch.setattr("model_suite.depth._DEPTH_ESTIMATORS", {})
    image = np.zeros((3, 4, 3), np.uint8)
    with pytest.raises(LookupError, match="register_depth_estimator"):
        estimate_depth(image, K)
    register_depth_estimator("flat", lambda img, k: np.full(img.shape[:2], 3.0))
    assert (estimate_depth(image, K) == 3.0).all()
    points = monocular_point_cloud(image, K, stride=1)
    assert points.shape == (12, 3) and (points[:, 2] == 3.0).all()
