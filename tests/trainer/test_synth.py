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
