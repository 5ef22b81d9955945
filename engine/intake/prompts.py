"""What an annotator tells a segmenter: clicks, a box and brush strokes, in image pixels."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np


@dataclass(frozen=True)
class Stroke:
    """A brush stroke: a polyline of `radius` pixels that adds to the mask (positive) or erases from it."""

    positive: bool
    radius: float
    path: tuple  # ((x, y), ...) in pixels, at least one point


@dataclass(frozen=True)
class Prompt:
    """Positive and negative clicks, an optional box (x0, y0, x1, y1) and brush strokes, in the order given."""

    points: tuple = ()  # ((x, y, positive), ...)
    box: tuple | None = None
    strokes: tuple = field(default=())

    @property
    def positives(self):
        return [(x, y) for x, y, pos in self.points if pos]

    @property
    def negatives(self):
        return [(x, y) for x, y, pos in self.points if not pos]

    def is_empty(self):
        return not self.points and self.box is None and not self.strokes

    def scaled(self, s):
        """Return the prompt in an image resized by `s`."""
        return Prompt(
            points=tuple((x * s, y * s, pos) for x, y, pos in self.points),
            box=tuple(v * s for v in self.box) if self.box is not None else None,
            strokes=tuple(Stroke(st.positive, st.radius * s, tuple((x * s, y * s) for x, y in st.path))
                          for st in self.strokes),
        )


def paint(stroke, height, width):
    """Return the (height, width) bool footprint of a stroke."""
    canvas = np.zeros((height, width), np.uint8)
    thickness = max(1, round(2 * stroke.radius))
    path = np.round(np.asarray(stroke.path, np.float64) * 16).astype(np.int32)
    if len(path) == 1:
        cv2.circle(canvas, tuple(int(v) for v in path[0]), round(stroke.radius * 16), 1, -1, cv2.LINE_8, 4)
    else:
        cv2.polylines(canvas, [path], False, 1, thickness, cv2.LINE_8, 4)
        for end in (path[0], path[-1]):  # round caps, as a brush leaves
            cv2.circle(canvas, tuple(int(v) for v in end), round(stroke.radius * 16), 1, -1, cv2.LINE_8, 4)
    return canvas.astype(bool)


def apply_strokes(mask, strokes):
    """Return the mask with the strokes painted over it in order: positive ones add, negative ones erase."""
    out = np.array(mask, bool)
    for stroke in strokes:
        footprint = paint(stroke, *out.shape)
        out = out | footprint if stroke.positive else out & ~footprint
    return out
