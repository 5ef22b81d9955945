"""Click-assisted segmentation for Stage 1: GrabCut seeded by positive and negative clicks."""

import cv2
import numpy as np
from scipy import ndimage

WORK_SIDE = 512  # GrabCut runs on a copy whose longer side is at most this many pixels
CLICK_RADIUS = 0.015  # of the longer side: the disc each click marks as sure foreground/background


def propose_mask(rgb, points, iterations=4):
    """Return a boolean (H, W) mask from clicks [(x, y, positive)] in pixel coordinates.

    The area around the positive clicks (grown by 60 %) is "probably foreground", the rest
    "probably background", each click a sure disc; the result keeps the connected region
    under the first positive click.
    """
    height, width = rgb.shape[:2]
    positives = [(x, y) for x, y, pos in points if pos]
    if not positives:
        raise ValueError("Give at least one positive click on the object.")
    scale = min(1.0, WORK_SIDE / max(height, width))
    small = cv2.resize(rgb, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA)
    h, w = small.shape[:2]
    radius = max(2, round(CLICK_RADIUS * max(h, w)))
    mask = np.full((h, w), cv2.GC_PR_BGD, np.uint8)
    xs = np.array([x for x, _ in positives]) * scale
    ys = np.array([y for _, y in positives]) * scale
    spread = max(w, h) * 0.15
    x0, x1 = xs.min() - spread, xs.max() + spread
    y0, y1 = ys.min() - spread, ys.max() + spread
    grow_x, grow_y = 0.3 * (x1 - x0), 0.3 * (y1 - y0)
    mask[max(0, int(y0 - grow_y)):int(y1 + grow_y), max(0, int(x0 - grow_x)):int(x1 + grow_x)] = cv2.GC_PR_FGD
    for x, y, pos in points:
        cv2.circle(mask, (round(x * scale), round(y * scale)), radius, cv2.GC_FGD if pos else cv2.GC_BGD, -1)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.grabCut(cv2.cvtColor(small, cv2.COLOR_RGB2BGR), mask, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)
    fg = (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)
    labels, _ = ndimage.label(fg)
    seed = labels[min(h - 1, round(ys[0])), min(w - 1, round(xs[0]))]
    if seed:
        fg = labels == seed
    full = cv2.resize(fg.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST).astype(bool)
    return ndimage.binary_fill_holes(full)
