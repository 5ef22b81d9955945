"""Measure a segmenter the way interactive-segmentation papers do: simulated clicks against true masks.

Protocol (the NoC protocol of the interactive-segmentation literature): the first click is
positive at the object's most interior pixel; each next click goes to the most interior pixel of
the larger error (positive on a missed part, negative on a wrongly taken one). With `box`, a box
around the true mask (plus 3 %) comes first, then the clicks. Reported: mean IoU after k clicks,
NoC@85/@90 (clicks to reach that IoU, MAX_CLICKS when never), and the time of every answer
(wall clock, and the process's CPU time, which other work on a shared machine does not inflate).
"""

from __future__ import annotations

import time

import cv2
import numpy as np
from scipy import ndimage

from engine.intake.prompts import Prompt

MAX_CLICKS = 10


def iou(a, b):
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def next_click(pred, truth):
    """Return (x, y, positive) at the most interior pixel of the larger error region."""
    fn, fp = truth & ~pred, pred & ~truth
    # Padding with background: pixels at the image's edge count as near a boundary.
    dist_fn = ndimage.distance_transform_edt(np.pad(fn, 1))[1:-1, 1:-1]
    dist_fp = ndimage.distance_transform_edt(np.pad(fp, 1))[1:-1, 1:-1]
    positive = dist_fn.max() >= dist_fp.max()
    dist = dist_fn if positive else dist_fp
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return float(x), float(y), positive


def true_box(truth, margin=0.03):
    ys, xs = np.nonzero(truth)
    h, w = truth.shape
    pad_x, pad_y = margin * (xs.max() - xs.min() + 1), margin * (ys.max() - ys.min() + 1)
    return (max(0.0, xs.min() - pad_x), max(0.0, ys.min() - pad_y), min(w, xs.max() + 1 + pad_x),
            min(h, ys.max() + 1 + pad_y))


def run(segment, rgb, truth, with_box, key, max_clicks=MAX_CLICKS):
    """Return {"ious": [IoU after the box / click k], "seconds": [...]} for one object."""
    box = true_box(truth) if with_box else None
    pred = np.zeros_like(truth)
    points, ious, seconds, cpu = [], [], [], []
    if box is not None:
        started, cpu0 = time.perf_counter(), time.process_time()
        pred = segment(rgb, Prompt(box=box), key)
        seconds.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu0)
        ious.append(iou(pred, truth))
    for _ in range(max_clicks):
        points.append(next_click(pred, truth))
        started, cpu0 = time.perf_counter(), time.process_time()
        try:
            pred = segment(rgb, Prompt(points=tuple(points), box=box), key)
        except ValueError:  # e.g. a method that needs a positive click first
            pred = np.zeros_like(truth)
        seconds.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu0)
        ious.append(iou(pred, truth))
    return {"ious": ious, "seconds": seconds, "cpu_seconds": cpu}


def summarize(runs, with_box):
    """Return the figures of a list of runs (each from `run`)."""
    offset = 1 if with_box else 0
    clicks = np.array([r["ious"][offset:] for r in runs])  # (objects, clicks)
    times = np.concatenate([r["seconds"] for r in runs]) * 1000
    cpu = np.concatenate([r["cpu_seconds"] for r in runs]) * 1000

    def noc(target):
        reached = [next((k + 1 for k, v in enumerate(row) if v >= target), MAX_CLICKS) for row in clicks]
        return round(float(np.mean(reached)), 2)

    out = {"objects": len(runs)}
    if with_box:
        out["miou_box_only"] = round(float(np.mean([r["ious"][0] for r in runs])), 3)
    out.update({f"miou_at_{k}": round(float(clicks[:, k - 1].mean()), 3) for k in (1, 2, 3, 5, MAX_CLICKS)})
    out.update({"noc_85": noc(0.85), "noc_90": noc(0.90),
                "latency_ms": {"mean": round(float(times.mean()), 1), "p95": round(float(np.percentile(times, 95)), 1),
                               "max": round(float(times.max()), 1)},
                "cpu_ms": {"mean": round(float(cpu.mean()), 1), "p95": round(float(np.percentile(cpu, 95)), 1),
                           "max": round(float(cpu.max()), 1)}})
    return out


def legacy_grabcut(rgb, prompt, key=None):
    """The segmenter before issue 22, kept to compare against: one GrabCut over the image, clicks as discs."""
    if prompt.box is not None and not prompt.positives:
        raise ValueError("the old method takes clicks only")
    points = prompt.points
    height, width = rgb.shape[:2]
    positives = [(x, y) for x, y, pos in points if pos]
    if not positives:
        raise ValueError("Give at least one positive click on the object.")
    scale = min(1.0, 512 / max(height, width))
    small = cv2.resize(rgb, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA)
    h, w = small.shape[:2]
    radius = max(2, round(0.015 * max(h, w)))
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
    cv2.grabCut(cv2.cvtColor(small, cv2.COLOR_RGB2BGR), mask, None, bgd, fgd, 4, cv2.GC_INIT_WITH_MASK)
    fg = (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)
    labels, _ = ndimage.label(fg)
    seed = labels[min(h - 1, round(ys[0])), min(w - 1, round(xs[0]))]
    if seed:
        fg = labels == seed
    full = cv2.resize(fg.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST).astype(bool)
    return ndimage.binary_fill_holes(full)


def photographs():
    """Yield (name, rgb, true mask) of the hand-outlined objects in scikit-image's photographs."""
    from skimage import data

    from engine.intake.photo_masks import outlines, photo_masks

    for name in outlines():
        rgb = data.stereo_motorcycle()[0] if name == "motorcycle_left" else getattr(data, name)()
        if rgb.ndim == 2:
            rgb = np.repeat(rgb[..., None], 3, axis=2)
        for label, mask in photo_masks(name, *rgb.shape[:2]).items():
            yield f"{name}/{label}", np.ascontiguousarray(rgb[..., :3]), mask


def composites(count, seed=7, size=320):
    """Yield (name, rgb, true mask) of render-paste composites (engine.simulation) with their true masks."""
    from engine.simulation.composites import load_photos, procedural_shapes, render

    photos = list(load_photos().values())
    for i, shape in enumerate(procedural_shapes(count, seed)):
        rng = np.random.default_rng([seed, i])
        try:
            c = render(shape, photos, rng, size)
        except ValueError:
            continue
        yield f"composite-{seed}-{i}/{shape.category}", c.image, c.mask
