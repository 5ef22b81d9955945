import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from engine.alignment import pose


def test_matrix_quaternion_roundtrip_matches_scipy():
    for seed in range(20):
        r = Rotation.random(random_state=seed)
        q = pose.quaternion_from_matrix(r.as_matrix())
        x, y, z, w = r.as_quat()
        expected = np.array([w, x, y, z]) * (1 if w >= 0 else -1)
        assert np.allclose(q, expected, atol=1e-9)
        assert np.allclose(pose.matrix_from_quaternion(q), r.as_matrix(), atol=1e-9)


@pytest.mark.parametrize("rotation,field", [
    ({"quaternion": [1, 0, 0]}, "rotation.quaternion"),
    ({"quaternion": [2, 0, 0, 0]}, "rotation.quaternion"),
    ({"matrix": [[1, 0, 0], [0, 1, 0], [0, 0, -1]]}, "rotation.matrix"),
    ({"matrix": [[2, 0, 0], [0, 1, 0], [0, 0, 1]]}, "rotation.matrix"),
    ({"quaternion": [1, 0, 0, 0], "matrix": np.eye(3).tolist()}, "rotation"),
    ({"quaternion": ["a", 0, 0, 0]}, "rotation.quaternion"),
])
def test_bad_rotations_name_the_field(rotation, field):
    with pytest.raises(pose.PoseError) as info:
        pose.parse_rotation(rotation)
    assert info.value.field == field


def test_scale_and_translation_checks():
    assert pose.parse_scale("2.5") == 2.5
    for bad in (0, -1, float("inf"), "x"):
        with pytest.raises(pose.PoseError):
            pose.parse_scale(bad)
    with pytest.raises(pose.PoseError):
        pose.parse_translation([0, float("nan"), 1])
