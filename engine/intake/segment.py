"""The built-in Stage 1 segmenter: GrabCut in a window the prompt sets, seeded by every click.

Before (one GrabCut over the whole image, the clicks as 8-pixel discs) a click on a grey camera
selected the sky and a negative click inside a wrong mask changed nothing: a few seed pixels
cannot move GrabCut's colour models, and the window was a guess. Now:

- a box: GrabCut with everything outside the box as background;
- a first positive click: GrabCut in square windows of growing size centred on the click, the
  outside of each as background; the first mask that stays clear of its window's sides is the
  object (it is bounded), as SAM's scale choice is replaced here by a containment test;
- every further click refines that base in a window around it: the click's similar-coloured patch
  seeds the colour model (object for a positive click, background for a negative one), a disc
  under the click is sure, and only the parts of the mask that hold a positive click are kept.
  So a positive click is always in the mask and a negative one never is;
- brush strokes are painted over the result last, in order: edits, not seeds.

The base of a box or of a first click is cached per image, so a refining click costs one GrabCut
on at most ROI_SIDE pixels. Figures: `manage.py bench_segmentation`.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

import cv2
import numpy as np
from scipy import ndimage

from engine.intake.prompts import Prompt, apply_strokes

WORK_SIDE = 512  # the image copy every prompt is read against (longer side, pixels)
ROI_SIDE = 200  # a refining GrabCut's window is resized to at most this longer side
SEARCH_SIDE = 256  # the first click's window search runs on a copy this size ...
SEARCH_ROI_SIDE = 160  # ... each window resized to at most this
SEARCH_BUDGET_S = 0.3  # CPU seconds the window search may take before it settles for what it has
SEARCH_ITERATIONS = 2  # GrabCut rounds per window: the first click's answer is refined by the next ones
SEARCH_WINDOWS = (0.15, 0.25, 0.4, 0.6, 0.85, 1.2)  # window sides, in the copy's longer side
CLICK_RADIUS = 3  # pixels of the working copy each click marks for sure
# How far a click's similar-colour patch may reach, as a share of the object's size (the square root
# of its area) and at most of the working side: a click on a coin marks less than one on a person.
PATCH_RADIUS = (0.3, 0.08)
NEGATIVE_PATCH_RADIUS = (0.5, 0.15)  # a negative click's patch reaches further: "not this region"
SURE_PATCH_RADIUS = (0.1, 0.03)  # the part of a patch this near its click is sure
PATCH_TOLERANCE = 7  # Lab units a patch's pixels may differ from their neighbours
ITERATIONS = 4
MIN_WINDOW_SHARE = 0.02  # a first click's mask covers at least this share of its window
TOUCHING = 0.05  # a mask covering this share of a window side runs into it


class BuiltinSegmenter:
    """Clicks, a box and strokes to a mask, on the CPU (OpenCV GrabCut); the default segmenter."""

    name = "builtin"

    def __init__(self, cache_size=16):
        self._cache = OrderedDict()  # (image key, what) -> array
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def availability(self):
        return True, "built in (OpenCV GrabCut)"

    def _cached(self, key, what, make):
        if key is None:
            return make()
        with self._lock:
            if (key, what) in self._cache:
                self._cache.move_to_end((key, what))
                return self._cache[key, what]
        value = make()
        with self._lock:
            self._cache[key, what] = value
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return value

    def segment(self, rgb, prompt: Prompt, key=None):
        """Return the (H, W) bool mask the prompt asks for; `key` names the image for the per-image cache."""
        if not prompt.positives and prompt.box is None and not any(s.positive for s in prompt.strokes):
            raise ValueError("Give a positive click on the object, or draw a box around it.")
        height, width = rgb.shape[:2]
        small, lab, scale = self._cached(key, "copy", lambda: _working_copy(rgb))
        p = prompt.scaled(scale)
        h, w = small.shape[:2]
        sure_fg, sure_bg = _seeds(p, h, w)
        refine_points = p.points
        if p.box is not None:
            box = _clip(p.box, w, h)
            base = self._cached(key, ("box", box), lambda: _box_mask(small, box))
        elif p.positives:
            first = next(i for i, (_, _, pos) in enumerate(p.points) if pos)
            x, y, _ = p.points[first]
            click = (int(round(x)), int(round(y)))
            base = self._cached(key, ("click", click), lambda: _click_mask(small, click))
            refine_points = p.points[:first] + p.points[first + 1:]
        else:  # positive strokes only: they are the object so far (painted below)
            base = np.zeros((h, w), bool)
        mask = _refine(small, lab, base, p, sure_fg, sure_bg) if refine_points else base
        full = cv2.resize(mask.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR) >= 0.5 \
            if scale < 1 else mask
        return apply_strokes(full, prompt.strokes)


def _working_copy(rgb):
    """Return (RGB, Lab, scale) of the image with its longer side at most WORK_SIDE."""
    height, width = rgb.shape[:2]
    scale = min(1.0, WORK_SIDE / max(height, width))
    rgb = np.ascontiguousarray(rgb[..., :3], dtype=np.uint8)
    if scale < 1:
        rgb = cv2.resize(rgb, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA)
    # The patches are flooded on a smoothed copy: texture (grass, fabric, noise) would stop them at once.
    return rgb, cv2.GaussianBlur(cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB), (0, 0), 2), scale


def _seeds(p, h, w):
    """Return (sure foreground, sure background): the discs under the clicks.

    Strokes are no seeds: an eraser drawn across an object would teach the background model the
    object's colour. They are edits, painted over the answer.
    """
    sure_fg, sure_bg = np.zeros((h, w), bool), np.zeros((h, w), bool)
    for x, y, pos in p.points:
        disc = np.zeros((h, w), np.uint8)
        cv2.circle(disc, (int(round(x)), int(round(y))), CLICK_RADIUS, 1, -1)
        (sure_fg if pos else sure_bg)[disc.astype(bool)] = True
    return sure_fg & ~sure_bg, sure_bg


def _clip(box, w, h):
    x0, y0, x1, y1 = box
    return (max(0, int(np.floor(x0))), max(0, int(np.floor(y0))), min(w, int(np.ceil(x1))), min(h, int(np.ceil(y1))))


def _grabcut(image, labels, side, iterations=ITERATIONS):
    """Run GrabCut on `image` from `labels` resized to at most `side`; return the foreground at full size."""
    h, w = labels.shape
    s = min(1.0, side / max(h, w))
    if s < 1:
        size = (max(1, round(w * s)), max(1, round(h * s)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        labels = cv2.resize(labels, size, interpolation=cv2.INTER_NEAREST)
    else:
        labels = labels.copy()
    fg = (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)
    if fg.any() and not fg.all():  # GrabCut needs samples of both sides
        try:
            cv2.setRNGSeed(0)  # GrabCut seeds its colour models with k-means: the same prompt gives the same mask
            cv2.grabCut(cv2.cvtColor(image, cv2.COLOR_RGB2BGR), labels, None, np.zeros((1, 65)), np.zeros((1, 65)),
                        iterations, cv2.GC_INIT_WITH_MASK)
        except cv2.error:  # too few distinct colours on one side to fit a model: keep the labels as they are
            pass
        fg = (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)
    if s < 1:
        fg = cv2.resize(fg.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
    return fg


def _rect_cut(small, rect, side, iterations, click=None):
    """Return the GrabCut foreground of `rect` (x0, y0, x1, y1) with everything outside it as background."""
    h, w = small.shape[:2]
    x0, y0, x1, y1 = rect
    margin = int(0.15 * max(x1 - x0, y1 - y0)) + 4  # background to learn from, around the rect
    cx0, cy0, cx1, cy1 = max(0, x0 - margin), max(0, y0 - margin), min(w, x1 + margin), min(h, y1 + margin)
    labels = np.full((cy1 - cy0, cx1 - cx0), cv2.GC_BGD, np.uint8)
    labels[y0 - cy0:y1 - cy0, x0 - cx0:x1 - cx0] = cv2.GC_PR_FGD
    if (x0, y0, x1, y1) == (0, 0, w, h):  # the whole image: only its edge can say what background is
        labels[[0, -1], :] = cv2.GC_PR_BGD
        labels[:, [0, -1]] = cv2.GC_PR_BGD
    if click is not None:
        cv2.circle(labels, (click[0] - cx0, click[1] - cy0), CLICK_RADIUS, cv2.GC_FGD, -1)
    fg = np.zeros((h, w), bool)
    fg[cy0:cy1, cx0:cx1] = _grabcut(small[cy0:cy1, cx0:cx1], labels, side, iterations)
    fg[cy0:cy1, cx0:cx1] |= labels == cv2.GC_FGD  # sure is sure, whatever the resizing did to it
    return fg


def _box_mask(small, box):
    """Return the object in a box: GrabCut of the box, its large parts kept.

    When GrabCut finds (almost) nothing, which it does when the object's colours are everywhere
    around it (a grey camera against a grey sky), the ellipse inside the box stands in for it:
    clicks refine from there.
    """
    x0, y0, x1, y1 = box
    fg = _keep(_rect_cut(small, box, ROI_SIDE, ITERATIONS), None, large=True)
    if fg.sum() >= 0.1 * (x1 - x0) * (y1 - y0):
        return fg
    ellipse = np.zeros(small.shape[:2], np.uint8)
    cv2.ellipse(ellipse, ((x0 + x1) // 2, (y0 + y1) // 2), (max(1, (x1 - x0) // 2), max(1, (y1 - y0) // 2)), 0, 0, 360, 1, -1)
    return ellipse.astype(bool)


def _click_mask(small, click):
    """Return the object under a first click: the smallest centred window whose mask stays clear of its sides."""
    h, w = small.shape[:2]
    s = min(1.0, SEARCH_SIDE / max(h, w))
    copy = cv2.resize(small, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA) if s < 1 else small
    ch, cw = copy.shape[:2]
    cx, cy = min(cw - 1, round(click[0] * s)), min(ch - 1, round(click[1] * s))
    found = None
    started = time.thread_time()  # CPU time: other work on the machine does not cut the search short
    for fraction in SEARCH_WINDOWS:
        r = fraction * max(cw, ch) / 2
        window = _clip((cx - r, cy - r, cx + r + 1, cy + r + 1), cw, ch)
        fg = _rect_cut(copy, window, SEARCH_ROI_SIDE, SEARCH_ITERATIONS, click=(cx, cy))
        fg = _component_at(fg, cx, cy)
        found = fg
        if window == (0, 0, cw, ch):  # the whole image: no larger window can say more
            break
        # A mask of little more than the click's own disc says nothing of the object's extent.
        area = (window[2] - window[0]) * (window[3] - window[1])
        telling = fg.sum() > max(4 * np.pi * CLICK_RADIUS ** 2, MIN_WINDOW_SHARE * area)
        if telling and not _touches(fg, window, cw, ch):
            break
        if telling and time.thread_time() - started > SEARCH_BUDGET_S:
            break  # the click must answer in time: the largest window so far stands, the next clicks refine it
    if s < 1:
        found = cv2.resize(found.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
    return found


def _component_at(fg, x, y):
    labels, _ = ndimage.label(fg)
    seed = labels[y, x]
    return labels == seed if seed else fg & False


def _touches(fg, window, w, h):
    """Return True if the mask runs into a side of the window that is not the image's edge."""
    x0, y0, x1, y1 = window
    sides = [(fg[y0, x0:x1], y0 > 0), (fg[y1 - 1, x0:x1], y1 < h), (fg[y0:y1, x0], x0 > 0), (fg[y0:y1, x1 - 1], x1 < w)]
    return any(inner and side.mean() > TOUCHING for side, inner in sides)


def _disc(x, y, radius, h, w):
    disc = np.zeros((h, w), np.uint8)
    cv2.circle(disc, (int(round(x)), int(round(y))), max(1, int(radius)), 1, -1)
    return disc.astype(bool)


def _patch(lab, x, y, radius):
    """Return the pixels around (x, y) reachable through small colour steps, within `radius`."""
    h, w = lab.shape[:2]
    x, y = min(w - 1, max(0, int(round(x)))), min(h - 1, max(0, int(round(y))))
    flood = np.zeros((h + 2, w + 2), np.uint8)
    tol = (PATCH_TOLERANCE,) * 3
    cv2.floodFill(lab.copy(), flood, (x, y), 0, tol, tol, 4 | cv2.FLOODFILL_MASK_ONLY | (1 << 8))
    return flood[1:-1, 1:-1].astype(bool) & _disc(x, y, radius, h, w)


def _refine(small, lab, base, p, sure_fg, sure_bg):
    """Return the base mask refined by the clicks: GrabCut in a window around base and clicks."""
    h, w = small.shape[:2]
    labels = np.where(base, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    if p.box is not None:
        x0, y0, x1, y1 = _clip(p.box, w, h)
        outside = np.ones((h, w), bool)
        outside[y0:y1, x0:x1] = False
        labels[outside] = cv2.GC_BGD
    size = np.sqrt(max(100, base.sum()))

    def reach(radius):
        return min(radius[0] * size, radius[1] * max(w, h))

    for x, y, pos in p.points:
        # A negative click says "this region is not the object": its patch reaches far, so that the
        # background model learns it; a positive one adds its colour near where it was put.
        near = _patch(lab, x, y, reach(PATCH_RADIUS if pos else NEGATIVE_PATCH_RADIUS))
        labels[near] = cv2.GC_PR_FGD if pos else cv2.GC_PR_BGD
        labels[near & _disc(x, y, reach(SURE_PATCH_RADIUS), h, w)] = cv2.GC_FGD if pos else cv2.GC_BGD
    labels[sure_fg] = cv2.GC_FGD
    labels[sure_bg] = cv2.GC_BGD
    if base.all() or base[[0, -1], :].all() and base[:, [0, -1]].all():
        labels[[0, -1], :] = np.where(labels[[0, -1], :] == cv2.GC_PR_FGD, cv2.GC_PR_BGD, labels[[0, -1], :])
        labels[:, [0, -1]] = np.where(labels[:, [0, -1]] == cv2.GC_PR_FGD, cv2.GC_PR_BGD, labels[:, [0, -1]])
    ys, xs = np.nonzero(base | sure_fg)
    ex, ey = xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()
    pad = max(8, 0.2 * max(ex, ey))
    window = _clip((xs.min() - pad, ys.min() - pad, xs.max() + 1 + pad, ys.max() + 1 + pad), w, h)
    x0, y0, x1, y1 = window
    fg = np.zeros((h, w), bool)
    fg[y0:y1, x0:x1] = _grabcut(small[y0:y1, x0:x1], labels[y0:y1, x0:x1], ROI_SIDE)
    sure_fg, sure_bg = labels == cv2.GC_FGD, labels == cv2.GC_BGD
    if (fg & ~sure_fg).sum() < 0.1 * base.sum():
        # GrabCut collapsed (see _box_mask: the object's colours are all around it); no click asked for
        # that, so the clicks edit the base instead.
        fg = base
    fg = (fg | sure_fg) & ~sure_bg
    negatives = [(int(round(x)), int(round(y))) for x, y, pos in p.points if not pos]
    return _keep(fg, sure_fg, large=p.box is not None, negatives=negatives)


def _keep(fg, sure_fg, large, negatives=()):
    """Return the parts of the mask that hold a positive seed, and with `large` (or no seed) its large parts.

    A part around a negative click (the click in a hole of it) goes, unless it holds a positive seed:
    Shift+click inside a wrong region takes that region out.
    """
    labels, n = ndimage.label(fg)
    if n == 0:
        return fg
    keep = np.zeros(n + 1, bool)
    seeded = np.zeros(n + 1, bool)
    if sure_fg is not None:
        seeded[np.unique(labels[sure_fg & fg])] = True
    keep |= seeded
    if large or sure_fg is None or not sure_fg.any():
        areas = np.bincount(labels.ravel(), minlength=n + 1)
        areas[0] = 0
        keep |= areas >= 0.2 * areas.max()
    keep[0] = False
    dropped = keep.copy()
    for x, y in negatives:
        for part in np.flatnonzero(dropped):
            if not seeded[part] and _encloses(labels == part, x, y):
                dropped[part] = False
    # Never everything: a negative click inside the only region means "not this patch", which GrabCut did.
    return _fill_small_holes((dropped if dropped.any() else keep)[labels])


def _encloses(part, x, y):
    """Return True if (x, y) lies inside the part or in a hole of it."""
    h, w = part.shape
    if not (0 <= x < w and 0 <= y < h):
        return False
    if part[y, x]:
        return True
    ys, xs = np.nonzero(part)
    if not (xs.min() <= x <= xs.max() and ys.min() <= y <= ys.max()):
        return False
    box = part[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    return bool(ndimage.binary_fill_holes(box)[y - ys.min(), x - xs.min()])


def _fill_small_holes(fg, fraction=0.02):
    """Fill the holes smaller than `fraction` of the mask (a mug's handle keeps its hole)."""
    holes = ndimage.binary_fill_holes(fg) & ~fg
    if not holes.any():
        return fg
    labels, _ = ndimage.label(holes)
    areas = np.bincount(labels.ravel())
    small = np.flatnonzero(areas < fraction * max(1, fg.sum()))
    return fg | np.isin(labels, small[small > 0])
