import numpy as np
import pytest

from trainer.data.views import crop_box, make_views, views_to_tensor


def test_views_shape_and_mask_channel():
    image = np.zeros((40, 60, 3), np.uint8)
    image[..., 0] = 200
    mask = np.zeros((40, 60), bool)
    mask[10:20, 30:40] = True
    v = make_views(image, mask, 16)
    assert v.shape == (2, 4, 16, 16) and v.dtype == np.uint8
    crop, full = v
    assert crop[3].mean() > full[3].mean()            # the crop zooms in on the mask
    assert 0.3 < (crop[3] > 127).mean() < 0.9
    assert views_to_tensor(v).max() <= 1.0


def test_crop_box_is_centred_on_the_mask():
    mask = np.zeros((50, 50), bool)
    mask[10:21, 30:41] = True
    cy, cx, half = crop_box(mask, margin=1.0)
    assert (cy, cx) == (15, 35) and half == 6


def test_mismatched_mask_is_a_clear_error():
    with pytest.raises(ValueError, match="does not match"):
        make_views(np.zeros((4, 4, 3), np.uint8), np.zeros((5, 5), bool), 8)
