import numpy as np
import pytest

from engine.intake import masks


def test_roundtrip_including_mask_starting_with_foreground():
    rng = np.random.default_rng(0)
    for _ in range(5):
        m = rng.random((13, 17)) > 0.6
        m[0, 0] = True
        assert (masks.decode(masks.encode(m)) == m).all()
    assert masks.encode(np.ones((2, 2), bool))["counts"] == [0, 4]


@pytest.mark.parametrize("rle,reason", [
    ({"size": [2, 2], "counts": [1, 1]}, "add up"),
    ({"size": [2, 2], "counts": [-1, 5]}, "non-negative"),
    ({"counts": [4]}, "size"),
    ({"size": [0, 2], "counts": []}, "positive"),
    ({"size": [2, 2], "counts": [2**63, 2**63, 0]}, "add up"),  # would wrap to 0 as an int64 sum
    ({"size": [2, 2], "counts": [True, 3]}, "non-negative run lengths"),
    ({"size": [2, 2], "counts": "4"}, "non-negative run lengths"),
    ({"size": [2.0, 2], "counts": [4]}, "two integers"),
    ({"size": [2], "counts": [2]}, "size"),
])
def test_malformed_rle(rle, reason):
    with pytest.raises(masks.MaskError, match=reason):
        masks.decode(rle)


def test_validate_refuses_empty_wrong_size_and_split_masks_unless_confirmed():
    m = np.zeros((50, 60), bool)
    with pytest.raises(masks.MaskError, match="empty"):
        masks.validate(m, (60, 50), 0.01)
    m[5:15, 5:15] = True
    with pytest.raises(masks.MaskError, match="image is 61x50"):
        masks.validate(m, (61, 50), 0.01)
    m[30:40, 30:40] = True
    with pytest.raises(masks.MaskError, match="2 separate regions"):
        masks.validate(m, (60, 50), 0.01)
    masks.validate(m, (60, 50), 0.01, confirm_multi_region=True)
    m[30:40, 30:40] = False
    m[45, 55] = True  # a speck below the area threshold is not a second region
    masks.validate(m, (60, 50), 0.05)
    assert masks.bbox(m) == [5, 5, 56, 46]


def test_claimed_size_is_checked_against_the_image_before_decoding(monkeypatch):
    def no_decoding(*args, **kwargs):
        raise AssertionError("the mask was decoded before its size was checked")

    monkeypatch.setattr(np, "repeat", no_decoding)
    with pytest.raises(masks.MaskError, match="Mask is 100000x100000 but the image is 512x384"):
        masks.decode({"size": [100_000, 100_000], "counts": [10_000_000_000]}, (512, 384))
    monkeypatch.undo()
    assert masks.decode({"size": [2, 3], "counts": [1, 5]}, (3, 2)).sum() == 5
