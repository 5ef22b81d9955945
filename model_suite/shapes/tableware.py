"""Tableware and containers: mugs, bottles, bowls, vases, boxes and plates (z-up, metres)."""

from __future__ import annotations

import numpy as np

from .parts import box, difference, hollow_profile, lathe, torus_handle
from .common import size_word


def mug(rng):
    r, h = rng.uniform(0.035, 0.05), rng.uniform(0.08, 0.12)
    taper = rng.uniform(0.85, 1.1)
    outer = [[r, 0], [r * taper, h]]
    body = lathe(hollow_profile(outer, 0.005, 0.008))
    handle = torus_handle(h * 0.3, 0.007, (r * 0.9 + h * 0.3 * 0.6, 0, h * 0.5))
    handle = difference(handle, lathe([[0, -0.01], [r * 0.95, -0.01], [r * taper * 0.95, h], [0, h]]))
    cap = f"a {'tapered ' if taper < 0.95 else 'flared ' if taper > 1.03 else ''}{size_word(h, 0.08, 0.12, ('short', 'regular', 'tall'))} mug with a handle"
    return [body, handle], dict(radius=r, height=h, taper=taper), cap


def bottle(rng):
    r, h = rng.uniform(0.03, 0.06), rng.uniform(0.18, 0.35)
    neck_r, neck_frac = r * rng.uniform(0.25, 0.45), rng.uniform(0.2, 0.4)
    shoulder = h * (1 - neck_frac)
    profile = [[0, 0], [r, 0], [r, shoulder * 0.85], [neck_r, shoulder + 0.2 * (h - shoulder)], [neck_r, h], [neck_r * 1.2, h], [neck_r * 1.2, h + 0.01], [0, h + 0.01]]
    cap = f"a {size_word(h, 0.18, 0.35, ('short', 'medium', 'tall'))} bottle with a {'long' if neck_frac > 0.3 else 'short'} narrow neck"
    return [lathe(profile)], dict(radius=r, height=h, neck_radius=neck_r, neck_fraction=neck_frac), cap


def bowl(rng):
    r, depth = rng.uniform(0.06, 0.15), rng.uniform(0.4, 0.8)
    h = r * depth
    s = np.linspace(0, 1, 8)
    outer = np.stack([r * (0.45 + 0.55 * np.sin(s * np.pi / 2)), h * s], axis=1)
    foot = bool(rng.random() < 0.5)
    parts = [lathe(hollow_profile(outer, r * 0.06, h * 0.15))]
    if foot:
        parts.append(lathe([[0, -h * 0.1], [r * 0.35, -h * 0.1], [r * 0.4, h * 0.05], [0, h * 0.05]]))
    cap = f"a {'deep' if depth > 0.6 else 'shallow'} round bowl{' on a foot ring' if foot else ''}"
    return parts, dict(radius=r, height=h, foot=foot), cap


def vase(rng):
    h, r = rng.uniform(0.2, 0.5), rng.uniform(0.05, 0.12)
    bulge, neck, lip = rng.uniform(0.2, 0.6), rng.uniform(0.35, 0.8), rng.uniform(0.7, 1.2)
    s = np.linspace(0, 1, 12)
    radius = r * (0.6 + (1 - 0.6) * np.exp(-((s - bulge) ** 2) / 0.05)) * (1 - (1 - neck) * np.clip((s - bulge) / (1 - bulge), 0, 1) ** 0.7)
    radius[-1] = max(radius[-2], r * neck * lip)
    outer = np.stack([radius, h * s], axis=1)
    cap = f"a {size_word(h, 0.2, 0.5, ('short', 'medium', 'tall'))} vase, widest {'low' if bulge < 0.35 else 'in the middle' if bulge < 0.5 else 'high'}, with a {'narrow' if neck < 0.55 else 'wide'} neck"
    return [lathe(hollow_profile(outer, r * 0.06, h * 0.05), sections=40)], dict(height=h, radius=r, bulge=bulge, neck=neck), cap


def box_shape(rng):
    e = rng.uniform(0.1, 0.6, size=3)
    lidded = bool(rng.random() < 0.5)
    wall = e.min() * 0.08
    if lidded:
        parts = [box(e, (0, 0, e[2] / 2)), box((e[0] * 1.04, e[1] * 1.04, e[2] * 0.15), (0, 0, e[2] * 0.95))]
    else:
        parts = [difference(box(e, (0, 0, e[2] / 2)), box((e[0] - 2 * wall, e[1] - 2 * wall, e[2]), (0, 0, e[2] / 2 + wall)))]
    cap = f"a {'closed box with a lid' if lidded else 'open-topped box'}, {'flat' if e[2] < 0.5 * e[:2].min() else 'tall' if e[2] > 1.5 * e[:2].max() else 'squat'}"
    return parts, dict(extents=[round(float(x), 4) for x in e], lid=lidded), cap


def plate(rng):
    r = rng.uniform(0.09, 0.16)
    depth = rng.uniform(0.12, 0.25)  # well depth relative to the radius: deep enough to be more than a sheet
    h = r * depth
    outer = [[r * 0.55, 0], [r * 0.7, h * 0.35], [r, h]]
    cap = f"a {'deep' if depth > 0.19 else 'shallow'} round plate with a rim"
    return [lathe(hollow_profile(outer, r * 0.04, h * 0.25), sections=48)], dict(radius=r, depth=depth), cap
