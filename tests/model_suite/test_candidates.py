import time

import numpy as np
import trimesh

from model_suite.base import Generator
from model_suite.candidates import make_candidate
from model_suite.raycast import pose_vertices


class Dummy(Generator):
    name, version, kind = "dummy", "0", "lifting"


def test_make_candidate_normalizes_and_keeps_the_posed_mesh_in_place():
    m = trimesh.creation.box((2, 1, 1)).apply_translation((3, 0, 0))
    pose = {"R": np.eye(3).tolist(), "t": [0, 0, 5], "s": 1.0}
    c = make_candidate(Dummy(), m.vertices, m.faces, seed=4, started=time.perf_counter(), pose=pose, note="x")
    assert np.isclose(np.ptp(c.vertices, axis=0).max(), 1.0)
    before = pose_vertices(m.vertices, pose)
    after = pose_vertices(c.vertices, c.pose)
    assert np.allclose(np.sort(before, axis=0), np.sort(after, axis=0), atol=1e-5)
    assert (c.generator, c.version, c.kind, c.seed, c.extra) == ("dummy", "0", "lifting", 4, {"note": "x"})
    assert c.vertices.dtype == np.float32 and c.faces.dtype == np.int32 and c.seconds >= 0


def test_refined_improves_a_poor_pose_and_records_both_ious(camera):
    from model_suite.candidates import refined
    from model_suite.raycast import render_mask

    m = trimesh.creation.box((0.5, 1.0, 0.5))
    mask = render_mask(m.vertices, m.faces, {"R": np.eye(3), "t": [0, 0, 4.0], "s": 1.0}, camera)
    c = make_candidate(Dummy(), m.vertices, m.faces, 0, time.perf_counter(),
                       {"R": np.eye(3).tolist(), "t": [0.2, 0.1, 4.0], "s": 0.8, "source": "guess"})
    refined(c, camera, mask)
    assert c.extra["mask_iou"] > c.extra["mask_iou_initial"] + 0.2
    assert c.pose["source"] == "guess+refined"
