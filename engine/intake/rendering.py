"""Masks and images as files: PNG masks, outlines for the browser."""

import io

import numpy as np
from PIL import Image as PILImage

from engine.intake import masks


def mask_png(obj):
    """Return an 8-bit PNG (255 = object) of an object's mask."""
    mask = masks.decode(obj.mask_rle)
    buffer = io.BytesIO()
    PILImage.fromarray((mask * 255).astype(np.uint8), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def load_rgb(image):
    """Return an image's pixels as an (H, W, 3) uint8 array."""
    with image.file.open("rb") as f:
        return np.asarray(PILImage.open(f).convert("RGB"))
