import numpy as np
import trimesh

from model_suite.base import GenerationContext
from model_suite.lifting import GeometricLiftingGenerator, primitive, visual_hull
from model_suite.raycast import pose_vertices, render_mask


def _scene(camera):
    m = trimesh.creation.cylinder(radius=0.3, height=1.0, sections=48)
    m.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0]))
    pose = {"R": np.eye(3), "t": [0, 0, 4.0], "s": 1.0}
    return m, pose, render_mask(m.vertices, m.faces, pose, camera)


def test_lifting_from_the_mask_alone_is_watertight_and_matches_the_silhouette(camera):
    _, _, mask = _scene(camera)
    out = GeometricLiftingGenerator().generate(None, mask, GenerationContext(intrinsics=camera), 5, 0)
    assert out[0].extra["method"] == "visual_hull"
    assert {c.extra["method"] for c in out} == {"visual_hull", "box", "cylinder", "ellipsoid", "superquadric"}
    assert all(c.extra["watertight"] for c in out)
    assert max(c.extra["mask_iou"] for c in out) > 0.85
    assert out[0].pose["source"].startswith("depth_prior")


def test_lifting_with_points_places_the_mesh_at_their_depth(camera):
    m, pose, mask = _scene(camera)
    surface, _ = trimesh.sample.sample_surface(m, 20000, seed=1)
    pts = pose_vertices(surface, pose)
    pts = pts[pts[:, 2] < 4.0]
    out = GeometricLiftingGenerator().generate(None, mask, GenerationContext(intrinsics=camera, point_cloud=pts), 1, 0)
    c = out[0]
    assert c.pose["source"] == "point_cloud"
    cam = pose_vertices(c.vertices, c.pose)
    assert abs(cam[:, 2].min() - 3.7) < 0.1  # front of the cylinder
    assert c.extra["mask_iou"] > 0.8


def test_visual_hull_is_closed(camera):
    _, _, mask = _scene(camera)
    mesh = visual_hull(mask, camera, np.array([-0.4, -0.6, 3.7]), np.array([0.4, 0.6, 4.3]), None, grid=24)
    assert mesh.is_watertight and mesh.volume > 0


def test_primitives_fill_their_box():
    lo, hi = np.array([0, 0, 1.0]), np.array([1, 2, 3.0])
    for kind in ("box", "cylinder", "ellipsoid", "superquadric"):
        m = primitive(kind, lo, hi)
        assert m.is_watertight and np.allclose(m.bounds, [lo, hi], atol=0.02)


def test_an_empty_mask_gives_nothing():
    assert GeometricLiftingGenerator().generate(None, np.zeros((8, 8), bool), GenerationContext(), 2, 0) == []


def test_superquadric_spans_ellipsoid_to_box():
    from model_suite.lifting import superquadric

    radii = np.array([1.0, 0.5, 0.25])
    round_ = superquadric(radii, 1.0)
    boxy = superquadric(radii, 0.1)
    assert round_.is_watertight and boxy.is_watertight
    assert abs(round_.volume - 4 / 3 * np.pi * radii.prod()) < 0.05
    assert boxy.volume > 0.85 * 8 * radii.prod() > round_.volume


def test_a_larger_n_only_appends(camera):
    _, _, mask = _scene(camera)
    gen = GeometricLiftingGenerator(grid=24)
    two = [c.extra["method"] for c in gen.generate(None, mask, GenerationContext(intrinsics=camera), 2, 7)]
    four = [c.extra["method"] for c in gen.generate(None, mask, GenerationContext(intrinsics=camera), 4, 7)]
    assert four[:2] == two
