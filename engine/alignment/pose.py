"""Rotations as quaternions or matrices, checked and converted.

Quaternions are [w, x, y, z] with w ≥ 0 after normalization (q and -q are one rotation).
"""

import numpy as np


class PoseError(ValueError):
    """A pose that cannot be accepted, with the field and the reason."""

    def __init__(self, field, reason):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def quaternion_from_matrix(matrix):
    """Return the unit quaternion [w, x, y, z] of a 3x3 rotation matrix."""
    m = np.asarray(matrix, dtype=np.float64)
    trace = np.trace(m)
    if trace > 0:
        s = 2.0 * np.sqrt(trace + 1.0)
        q = [0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s]
    else:
        i = int(np.argmax(np.diag(m)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * np.sqrt(1.0 + m[i, i] - m[j, j] - m[k, k])
        q = [0.0, 0.0, 0.0, 0.0]
        q[0] = (m[k, j] - m[j, k]) / s
        q[1 + i] = 0.25 * s
        q[1 + j] = (m[j, i] + m[i, j]) / s
        q[1 + k] = (m[k, i] + m[i, k]) / s
    q = np.asarray(q)
    return _canonical(q / np.linalg.norm(q))


def matrix_from_quaternion(q):
    """Return the 3x3 rotation matrix of a unit quaternion [w, x, y, z]."""
    w, x, y, z = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def _canonical(q):
    return q if q[0] >= 0 else -q


def parse_rotation(rotation):
    """Return a unit quaternion from {"quaternion": [w,x,y,z]} or {"matrix": 3x3}; raise PoseError."""
    if not isinstance(rotation, dict) or len(set(rotation) & {"quaternion", "matrix"}) != 1:
        raise PoseError("rotation", 'give exactly one of {"quaternion": [w, x, y, z]} or {"matrix": [[...], ...]}')
    if "quaternion" in rotation:
        q = _finite_array(rotation["quaternion"], (4,), "rotation.quaternion")
        norm = np.linalg.norm(q)
        if abs(norm - 1.0) > 1e-3:
            raise PoseError("rotation.quaternion", f"must have unit length, has {norm:.4f}")
        return _canonical(q / norm)
    m = _finite_array(rotation["matrix"], (3, 3), "rotation.matrix")
    if not np.allclose(m @ m.T, np.eye(3), atol=1e-3) or np.linalg.det(m) < 0:
        raise PoseError("rotation.matrix", "must be orthonormal with determinant +1 (a proper rotation)")
    return quaternion_from_matrix(m)


def parse_translation(value):
    return _finite_array(value, (3,), "translation")


def parse_scale(value):
    try:
        scale = float(value)
    except (TypeError, ValueError):
        raise PoseError("scale", f"must be a number, got {value!r}") from None
    if not np.isfinite(scale) or scale <= 0:
        raise PoseError("scale", f"must be a positive finite number, got {value!r}")
    return scale


def _finite_array(value, shape, field):
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise PoseError(field, f"must be numbers of shape {list(shape)}") from None
    if array.shape != shape:
        raise PoseError(field, f"must have shape {list(shape)}, got {list(array.shape)}")
    if not np.isfinite(array).all():
        raise PoseError(field, "must be finite numbers")
    return array
