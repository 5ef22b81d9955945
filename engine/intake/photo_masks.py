"""Hand-made masks of objects in scikit-image's photographs (photo_masks.json), as boolean arrays."""

import json
from functools import cache
from pathlib import Path

import cv2
import numpy as np

PATH = Path(__file__).with_name("photo_masks.json")


@cache
def outlines():
    """Return {photograph: {label: [[x, y], ...]}} as drawn (the file's "_about" says how)."""
    return {name: objects for name, objects in json.loads(PATH.read_text()).items() if not name.startswith("_")}


def rasterize(polygon, height, width):
    """Return the (height, width) bool mask inside a polygon [[x, y], ...] of pixel centres."""
    canvas = np.zeros((height, width), np.uint8)
    # cv2 fills on a 1/16-pixel grid: sub-pixel vertices keep their place.
    points = np.round(np.asarray(polygon, np.float64) * 16).astype(np.int32)
    cv2.fillPoly(canvas, [points], 1, lineType=cv2.LINE_8, shift=4)
    return canvas.astype(bool)


def photo_masks(name, height, width):
    """Return {label: mask} of a photograph; a later label is drawn over the earlier ones, as in front of them."""
    objects = outlines()[name]
    result = {}
    for label, polygon in objects.items():
        mask = rasterize(polygon, height, width)
        for earlier in result.values():
            earlier &= ~mask
        result[label] = mask
    return result
