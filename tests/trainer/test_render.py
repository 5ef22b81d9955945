import numpy as np
import trimesh

from trainer.data.render import intrinsics, raycast, shade, voxelize


def test_a_cube_projects_where_the_pinhole_model_says():
    cube = trimesh.creation.box([1.0, 1.0, 1.0])
    gid, normals, dirs = raycast([cube], [(np.eye(3), np.array([0, 0, 3.0]), 1.0)], 64)
    # Front face at z = 2.5, half-width 0.5 -> 0.5 / 2.5 * f = 0.2 * 64 = 12.8 px either side of the centre.
    cols = np.nonzero((gid == 0).any(0))[0]
    assert abs(cols.min() - (32 - 12.8)) <= 1 and abs(cols.max() + 1 - (32 + 12.8)) <= 1
    assert np.allclose(normals[32, 32], [0, 0, -1], atol=1e-5) or np.allclose(normals[32, 32], [0, 0, 1], atol=1e-5)
    img = shade(gid, normals, dirs, np.zeros((64, 64, 3)), [np.array([1.0, 0, 0])], np.random.default_rng(0))
    assert img[32, 32, 0] > 0 and img[0, 0].sum() == 0


def test_two_objects_keep_their_ids_and_the_nearer_one_occludes():
    a, b = trimesh.creation.box([1, 1, 1]), trimesh.creation.box([0.3, 0.3, 0.3])
    gid, _, _ = raycast([a, b], [(np.eye(3), [0, 0, 4.0], 1.0), (np.eye(3), [0, 0, 2.0], 1.0)], 32)
    assert gid[16, 16] == 1 and (gid == 0).any()


def test_voxelize_a_box_exactly():
    box = trimesh.creation.box([0.5, 0.5, 0.5])
    occ = voxelize(box, 16)
    assert occ.sum() == 8 ** 3 or abs(int(occ.sum()) - 8 ** 3) < 8 ** 3 * 0.5
    assert occ[4:12, 4:12, 4:12].all() and not occ[:3].any()


def test_intrinsics():
    K = intrinsics(100)
    assert K[0, 0] == 100 and K[0, 2] == 50
