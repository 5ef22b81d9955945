"""Quality-control rules as plain functions: when to serve gold, how an answer scores, what is too fast.

Pose errors (Stage 3 gold), for a submitted pose (q, t, s) against the known (q*, t*, s*):
    rotation     2·acos|⟨q, q*⟩| in degrees ("full"), or the angle between R·ŷ and R*·ŷ ("up": the
                 object's up axis only, for a known pose of a look-alike mesh whose yaw may differ);
    translation  ‖t − t*‖ / |t*_z|, the error as a share of the object's depth;
    scale        |log(s / s*)|.
"""

import hashlib
import math

import numpy as np

ROTATION_DEG = 15.0  # a person aligning by eye gets within this of the true rotation
TRANSLATION_SHARE = 0.10  # ... within 10 % of the depth
LOG_SCALE = 0.15  # ... and within 16 % of the scale
SAME_POSE = 1e-6  # a pose within this of the one served was not moved
FAST_SHARE = 0.5  # a ranking with this share of its answers too fast is held


def wants_gold(regular, gold, rate):
    """Return True when one more gold copy keeps gold at about `rate` of the tasks served.

    With g gold copies among g + r tasks, the share stays at `rate` while g < rate / (1 − rate) · r.
    """
    if rate <= 0:
        return False
    if rate >= 1:
        return True
    return gold < rate / (1 - rate) * regular


def _unit(key):
    """Return a stable number in [0, 1) for `key` (the first 4 bytes of its sha256)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "little") / 2**32


def ranking_copies(object_id, overlap, overlap_rate):
    """Return how many annotators rank an object's set: `overlap`, or 2 for an `overlap_rate` share of objects."""
    if overlap == 1 and _unit(f"overlap:{object_id}") < overlap_rate:
        return 2
    return overlap


def fast_answers(gaps, min_seconds):
    """Return (too_fast, total) of a ranking's answer gaps (seconds) below `min_seconds`; 0 disables the check."""
    if min_seconds <= 0:
        return 0, len(gaps)
    return sum(1 for g in gaps if g < min_seconds), len(gaps)


def ranking_too_fast(gaps, min_seconds):
    """Return True when at least FAST_SHARE of a ranking's answers came faster than `min_seconds`."""
    fast, total = fast_answers(gaps, min_seconds)
    return total > 0 and fast >= FAST_SHARE * total


def rank_result(answer, winner, accepted):
    """Score a Stage 2 answer on gold: the winner among the acceptable ones, and the accept decision if known."""
    winner_ok = winner in set(answer.get("winners", []))
    expected = answer.get("accept")
    decision_ok = expected is None or bool(accepted) == bool(expected)
    return {"passed": winner_ok and decision_ok, "winner": winner, "winner_ok": winner_ok, "accepted": accepted,
            "decision_ok": decision_ok}


def _matrix(q):
    w, x, y, z = np.asarray(q, float) / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                     [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                     [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])


def rotation_error_deg(q, q_true, check="full"):
    """Return the rotation error in degrees: the full angle between two quaternions, or of the up axis only."""
    if check == "up":
        a, b = _matrix(q)[:, 1], _matrix(q_true)[:, 1]
        return math.degrees(math.acos(float(np.clip(a @ b, -1.0, 1.0))))
    a, b = np.asarray(q, float), np.asarray(q_true, float)
    dot = abs(float(a @ b) / (np.linalg.norm(a) * np.linalg.norm(b)))
    return math.degrees(2 * math.acos(min(1.0, dot)))


def pose_result(answer, rotation, translation, scale):
    """Score a Stage 3 pose on gold against the tolerances above; return the errors and `passed`."""
    rot = rotation_error_deg(rotation, answer["rotation"], answer.get("rotation_check", "full"))
    t, t_true = np.asarray(translation, float), np.asarray(answer["translation"], float)
    trans = float(np.linalg.norm(t - t_true) / max(abs(t_true[2]), 1e-6))
    log_scale = abs(math.log(max(scale, 1e-12) / max(answer["scale"], 1e-12)))
    passed = rot <= ROTATION_DEG and trans <= TRANSLATION_SHARE and log_scale <= LOG_SCALE
    return {"passed": passed, "rotation_deg": round(rot, 2), "translation_share": round(trans, 4),
            "log_scale": round(log_scale, 4)}


def same_pose(a, b, tolerance=SAME_POSE):
    """Return True when two poses ({rotation: [w,x,y,z], translation, scale}) are the same within `tolerance`."""
    qa, qb = np.asarray(a["rotation"], float), np.asarray(b["rotation"], float)
    same_rotation = min(np.abs(qa - qb).max(), np.abs(qa + qb).max()) <= tolerance
    return bool(same_rotation and np.abs(np.asarray(a["translation"], float)
                                         - np.asarray(b["translation"], float)).max() <= tolerance
                and abs(float(a["scale"]) - float(b["scale"])) <= tolerance)
