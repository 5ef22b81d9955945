import numpy as np
from scipy import ndimage
from skimage import data

from engine.intake.quality import assess


def test_real_photo_passes():
    q = assess(data.camera(), 256, 20.0, 0.05)
    assert q.ok, q.reason


def test_low_resolution_blurry_and_flat_images_are_rejected_with_reasons():
    assert "low resolution" in assess(data.camera()[:100, :100], 256, 20.0, 0.05).reason
    blurred = ndimage.gaussian_filter(data.camera().astype(float), 8)
    assert assess(blurred, 256, 20.0, 0.05).reason.startswith("blurry")
    flat = np.full((300, 300), 128.0) + np.random.default_rng(0).normal(0, 6, (300, 300))
    q = assess(flat, 256, 20.0, 0.05)
    assert not q.ok and "low contrast" in q.reason
