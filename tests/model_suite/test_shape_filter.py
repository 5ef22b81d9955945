import numpy as np
import trimesh

from model_suite.meshproc import normalize
from model_suite.shape_filter import check, fragment_gap, normal_concentration


def _unit(mesh):
    v, _, _ = normalize(mesh.vertices)
    return trimesh.Trimesh(v, mesh.faces)


def test_a_solid_passes():
    assert check(_unit(trimesh.creation.box((1, 0.6, 0.3)))).ok


def test_a_line_of_triangles_has_degenerate_volume():
    v = np.array([[0, 0, 0], [1, 0, 0], [2, 0, 1e-6], [3, 0, 0]], float)
    verdict = check(trimesh.Trimesh(v, [[0, 1, 2], [1, 2, 3]], process=False))
    assert verdict.reason == "degenerate_volume"


def test_a_thin_plate_is_a_flat_sheet():
    plate = _unit(trimesh.creation.box((1, 1, 0.01)))
    assert normal_concentration(plate) > 0.97
    assert check(plate).reason == "flat_sheet"


def test_normal_concentration_of_a_cube_is_one_third():
    assert np.isclose(normal_concentration(trimesh.creation.box()), 1 / 3)


def test_a_far_fragment_is_caught_but_a_chain_of_parts_is_not():
    body = trimesh.creation.box((0.4, 0.4, 0.4))
    chain = [body] + [trimesh.creation.box((0.1, 0.1, 0.1)).apply_translation((0.3 + 0.12 * k, 0, 0)) for k in range(4)]
    assert fragment_gap(_unit(trimesh.util.concatenate(chain))) < 0.1
    far = trimesh.creation.box((0.1, 0.1, 0.1)).apply_translation((2, 0, 0))
    verdict = check(_unit(trimesh.util.concatenate([body, far])))
    assert verdict.reason == "far_fragment" and "from the main body" in verdict.detail


def test_the_pyvista_meshes_pass(pyvista_ply):
    for name in ["airplane.ply", "ant.ply", "nut.ply", "sphere.ply"]:
        assert check(_unit(trimesh.load(pyvista_ply / name))).ok, name
