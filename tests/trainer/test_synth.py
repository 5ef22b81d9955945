import numpy as np

from trainer.config import DataConfig
from trainer.data.shapes import primitive_assembly
from trainer.data.synth import composite, isolated, load_photos


def test_isolated_render_supervises_rotation_only():
    s = isolated([primitive_assembly(0)], 48, np.random.default_rng(0))
    assert s.image.shape == (48, 48, 3) and s.mask.any()
    assert s.layout_mask.tolist() == [1.0, 0.0, 0.0]
    assert np.allclose(s.rotation @ s.rotation.T, np.eye(3), atol=1e-6)


def test_composites_respect_the_visibility_bounds():
    shapes = [primitive_assembly(i) for i in range(4)]
    photos = load_photos()[:2]
    cfg = DataConfig(visible_min=0.1, visible_max=0.9, min_visible_pixels=40)
    occluder_targets = 0
    for i in range(12):
        s = composite(shapes, photos, 64, np.random.default_rng(i), cfg)
        assert s.mask.sum() >= 40 and s.layout_mask.tolist() == [1.0, 1.0, 1.0]
        if s.visible_fraction == 1.0:
            occluder_targets += 1
        else:
            assert 0.1 <= s.visible_fraction <= 0.9
        assert s.translation[2] > 0
    assert 0 < occluder_targets < 12             # about a third of targets are the occluder


def test_upright_rotations_keep_the_up_axis_seen_from_above():
    from trainer.data.synth import draw_rotations
    R = draw_rotations(np.random.default_rng(0), 200, "upright")
    assert np.allclose(R @ R.transpose(0, 2, 1), np.eye(3), atol=1e-9) and np.allclose(np.linalg.det(R), 1)
    up = R @ np.array([0.0, 1.0, 0.0])                 # the object's up axis in the camera frame (y down, z forward)
    elevation = np.degrees(np.arcsin(-up[:, 2]))       # tilted towards the camera: seen from above
    assert (up[:, 1] < -0.8).all() and 9 < elevation.min() and elevation.max() < 36
    assert abs(np.degrees(np.arcsin(up[:, 0]))).max() < 10.5          # roll clipped at 10 degrees
    hard = draw_rotations(np.random.default_rng(0), 200, "hard")
    assert ((hard @ np.array([0.0, 1.0, 0.0]))[:, 1] > 0).any()        # the hard split includes views from below


def test_upright_composites_are_big_enough_to_see():
    from trainer.data.synth import bbox_side
    shapes = [primitive_assembly(i) for i in range(4)]
    photos = load_photos()[:2]
    cfg = DataConfig(poses="upright", min_object_frac=0.3, min_visible_pixels=20)
    for i in range(8):
        s = composite(shapes, photos, 64, np.random.default_rng(i), cfg)
        up = s.rotation @ np.array([0.0, 1.0, 0.0])
        assert up[1] < -0.8 and s.mask.any()
        if s.visible_fraction == 1.0:                  # the occluder is the target: its visible mask is checked
            assert bbox_side(s.mask) >= 0.3 * 64


def test_an_unknown_pose_set_is_refused_with_the_choices(tmp_path):
    import pytest

    from trainer.data.cache import prepare
    with pytest.raises(ValueError, match="upright, hard"):
        prepare(DataConfig(out=str(tmp_path), poses="sideways", n=1), progress=False)
