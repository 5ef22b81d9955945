import numpy as np
import pytest
import trimesh

from model_suite.meshproc import MeshError, normalize, prepare_candidate, repair, simplify, validate, vertex_normals


def test_validate_accepts_a_box(box_mesh):
    validate(*box_mesh)


@pytest.mark.parametrize(
    "vertices, faces, code",
    [
        (np.zeros((0, 3)), np.zeros((0, 3), int), "empty"),
        (np.array([[0, 0, 0], [1, 0, 0], [np.nan, 1, 0]]), np.array([[0, 1, 2]]), "non_finite"),
        (np.eye(3), np.array([[0, 1, 3]]), "bad_index"),
    ],
)
def test_validate_rejects_with_a_stable_code(vertices, faces, code):
    with pytest.raises(MeshError) as err:
        validate(vertices, faces)
    assert err.value.code == code


def test_validate_bounds_the_triangle_count(dense_sphere):
    with pytest.raises(MeshError) as err:
        validate(*dense_sphere, max_triangles=1000)
    assert err.value.code == "too_large"


def test_normalize_fits_the_unit_cube_and_is_invertible(box_mesh):
    v, f = box_mesh
    moved = v * 7 + np.array([3, -2, 5], np.float32)
    n, centre, scale = normalize(moved)
    assert np.allclose(n.max(axis=0) - n.min(axis=0), [1.0, 0.5, 0.25], atol=1e-6)
    assert np.allclose((n.max(axis=0) + n.min(axis=0)) / 2, 0, atol=1e-6)
    assert np.allclose(n * scale + centre, moved, atol=1e-5)


def test_normalize_refuses_a_point():
    with pytest.raises(MeshError):
        normalize(np.ones((4, 3)))


def test_simplify_reaches_the_budget_and_keeps_the_shape(dense_sphere):
    v, f = simplify(*dense_sphere, budget=2000)
    assert 1500 <= len(f) <= 2000
    radii = np.linalg.norm(v, axis=1)
    assert np.allclose(radii, 1.0, atol=0.03)


def test_simplify_leaves_small_meshes_alone(box_mesh):
    v, f = simplify(*box_mesh, budget=100)
    assert len(f) == 12


def test_repair_merges_a_triangle_soup_into_a_watertight_box(box_mesh):
    v, f = box_mesh
    soup_v = v[f].reshape(-1, 3)  # every face has its own three vertices
    soup_f = np.arange(len(soup_v)).reshape(-1, 3)
    mesh = repair(soup_v, soup_f)
    assert mesh.is_watertight and len(mesh.vertices) == 8


def test_vertex_normals_point_outwards_on_a_sphere():
    m = trimesh.creation.icosphere(subdivisions=3)
    n = vertex_normals(m.vertices, m.faces)
    assert np.allclose(np.linalg.norm(n, axis=1), 1, atol=1e-5)
    assert (np.sum(n * m.vertices, axis=1) > 0.99).all()


def test_prepare_candidate_normalizes_and_simplifies(dense_sphere):
    v, f = prepare_candidate(dense_sphere[0] * 40, dense_sphere[1], budget=5000)
    assert len(f) <= 5000
    assert np.isclose((v.max(axis=0) - v.min(axis=0)).max(), 1.0, atol=0.02)


def test_simplify_always_meets_the_budget_even_on_a_triangle_soup():
    rng = np.random.default_rng(0)
    v, f = simplify(rng.normal(size=(20000, 3)), rng.integers(0, 20000, (40000, 3)), budget=10_000)
    assert 0 < len(f) <= 10_000
