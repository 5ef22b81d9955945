import cv2
import numpy as np

from model_suite.shape_descriptor import SECTORS, descriptor, match


def _ellipse(angle_deg, size=(96, 96), axes=(36, 12), centre=(48, 48)):
    m = np.zeros(size, np.uint8)
    cv2.ellipse(m, centre, axes, angle_deg, 0, 360, 1, -1)
    return m.astype(bool)


def test_descriptor_is_a_normalized_histogram_invariant_to_translation_and_scale():
    a = descriptor(_ellipse(0))
    assert np.isclose(a.sum(), 1.0)
    moved = descriptor(_ellipse(0, size=(200, 200), axes=(72, 24), centre=(120, 90)))
    assert np.abs(a - moved).sum() < 0.15


def test_match_recovers_the_in_plane_rotation():
    bank = np.stack([descriptor(_ellipse(0)), descriptor(np.ones((40, 40), bool))])
    query = descriptor(_ellipse(45))  # cv2 angles turn x towards y in image axes, as our angle does
    dist, angle = match(query, bank)
    assert dist[0] < dist[1]
    assert abs(np.degrees(angle[0]) % 180 - 45) <= 360 / SECTORS


def test_max_roll_limits_the_tolerated_rotation():
    bank = descriptor(_ellipse(0))[None]
    free, _ = match(descriptor(_ellipse(90)), bank)
    upright, _ = match(descriptor(_ellipse(90)), bank, max_roll=np.radians(20))
    assert free[0] < upright[0]


def test_empty_mask_gives_zeros():
    assert descriptor(np.zeros((10, 10), bool)).sum() == 0
