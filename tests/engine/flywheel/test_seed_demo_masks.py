"""The demo's seeded objects carry their true outlines, not boxes: Stage 3's mask IoU then rewards the object."""

import pytest
from skimage import data

from engine.flywheel.management.commands.seed_demo import PHOTOS
from engine.intake.masks import bbox
from engine.intake.photo_masks import photo_masks


@pytest.mark.parametrize("name", sorted(PHOTOS))
def test_each_seeded_object_has_a_hand_made_outline(name):
    photo = data.stereo_motorcycle()[0] if name == "motorcycle_left" else getattr(data, name)()
    outlined = photo_masks(name, *photo.shape[:2])
    for category, _, label in PHOTOS[name]:
        mask = outlined[label]
        x0, y0, x1, y1 = bbox(mask)
        fill = mask.sum() / ((x1 - x0) * (y1 - y0))
        assert 0.005 < mask.mean() < 0.95 and fill < 0.97, (name, label, fill)  # an outline, not its box
