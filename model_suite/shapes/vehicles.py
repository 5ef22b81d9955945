"""Vehicle- and aircraft-like forms: cars, motorcycles, bicycles, boats and aircraft (z-up, metres)."""

from __future__ import annotations

import numpy as np
import trimesh

from .parts import box, difference, ellipsoid, rod, torus_handle


def car(rng):
    L, W = rng.uniform(3.5, 5.5), rng.uniform(1.6, 2.0)
    body_h, cabin_h = rng.uniform(0.5, 0.8), rng.uniform(0.4, 0.7)
    cabin_len, cabin_pos = rng.uniform(0.35, 0.6), rng.uniform(-0.15, 0.15)
    wheel_r = rng.uniform(0.3, 0.45)
    truck = bool(rng.random() < 0.25)
    clearance = wheel_r * 0.6
    parts = [box((L, W, body_h), (0, 0, clearance + body_h / 2))]
    cab_x = (L / 2 - L * cabin_len / 2 - 0.1) if truck else cabin_pos * L
    parts.append(box((L * cabin_len * (0.6 if truck else 1), W * 0.85, cabin_h), (cab_x, 0, clearance + body_h + cabin_h / 2 - 0.01)))
    for sx in (-1, 1):
        for sy in (-1, 1):
            c = np.array([sx * L * 0.33, sy * (W / 2 - 0.12), wheel_r])
            parts.append(rod(wheel_r, c - [0, 0.14, 0], c + [0, 0.14, 0]))
    cap = f"a {'truck-like' if truck else 'car-like'} vehicle with {'a tall' if cabin_h > 0.55 else 'a low'} cabin and four wheels"
    return parts, dict(length=L, width=W, body_height=body_h, cabin_height=cabin_h, wheel_radius=wheel_r, truck=truck), cap


def aircraft(rng):
    L, R = rng.uniform(8, 20), rng.uniform(0.5, 1.2)
    span, chord, sweep = L * rng.uniform(0.6, 1.1), rng.uniform(1.0, 2.5), rng.uniform(-0.1, 0.6)
    twin_tail = bool(rng.random() < 0.2)
    fus = trimesh.creation.capsule(height=L - 2 * R, radius=R, count=[24, 12])
    fus.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [0, 1, 0]))
    parts = [fus]
    for sy in (-1, 1):  # each wing is a thin box swept back by ``sweep`` of its half-span
        wing = box((chord, span / 2, R * 0.25), (0, span / 4, 0))
        wing.apply_transform(trimesh.transformations.rotation_matrix(sy * -sweep * 0.5, [0, 0, 1]))
        parts.append(wing.apply_transform(np.diag([1, sy, 1, 1])) if sy < 0 else wing)
    tail_x = -L / 2 + chord * 0.4
    parts.append(box((chord * 0.6, span * 0.35, R * 0.15), (tail_x, 0, 0)))
    fins = [(tail_x, sy * span * 0.12) for sy in (-1, 1)] if twin_tail else [(tail_x, 0)]
    for fx, fy in fins:
        parts.append(box((chord * 0.6, R * 0.15, R * 2.2), (fx, fy, R * 1.1)))
    cap = f"an aircraft with {'swept' if sweep > 0.25 else 'straight'} wings{', a twin tail' if twin_tail else ''} and a {'long' if L / span > 1.2 else 'short'} fuselage"
    return parts, dict(length=L, span=span, chord=chord, sweep=sweep, twin_tail=twin_tail), cap


def _wheel(x: float, radius: float, tube: float, width: float, spokes: int = 0):
    """A wheel in the x-z plane at (x, 0, radius): a tyre, a hub and, if asked, spokes joining them."""
    parts = [torus_handle(radius - tube, tube, (x, 0, radius), sections=32),
             rod(radius * 0.18, (x, -width, radius), (x, width, radius), sections=16)]
    if spokes:
        for k in range(spokes):
            a = np.pi * k / spokes
            d = np.array([np.cos(a), 0, np.sin(a)]) * (radius - tube * 0.5)
            parts.append(rod(tube * 0.25, np.array([x, 0, radius]) - d, np.array([x, 0, radius]) + d, sections=8))
    else:
        parts.append(rod(radius - tube * 1.2, (x, -tube * 0.4, radius), (x, tube * 0.4, radius)))  # a disc wheel
    return parts


def motorcycle(rng):
    R, wb = rng.uniform(0.3, 0.36), rng.uniform(1.3, 1.6)
    tube = R * rng.uniform(0.25, 0.35)
    sport = bool(rng.random() < 0.4)
    rear, front = -wb / 2, wb / 2
    parts = _wheel(rear, R, tube, 0.08) + _wheel(front, R, tube, 0.08)
    engine_z = R + 0.05
    parts += [box((0.45, 0.3, 0.35), (-0.05, 0, engine_z)),
              ellipsoid((0.28, 0.15, 0.12), (0.1, 0, engine_z + 0.27)),  # tank, sunk into the engine block
              box((0.3, 0.2, 0.15), (-0.3, 0, engine_z + 0.2)),  # subframe carrying the seat
              box((0.55, 0.24, 0.08), (-0.35, 0, engine_z + 0.28)),  # seat
              rod(0.035, (rear, 0, R), (-0.05, 0, engine_z)),  # swing arm
              rod(0.035, (front, 0, R), (front - 0.22, 0, engine_z + 0.5)),  # fork
              rod(0.025, (front - 0.22, -0.35, engine_z + 0.5), (front - 0.22, 0.35, engine_z + 0.5)),  # handlebar
              rod(0.03, (0.3, 0, engine_z + 0.3), (front - 0.22, 0, engine_z + 0.5)),  # frame to the steering head
              rod(0.04, (0.05, 0.17, engine_z - 0.1), (rear - 0.1, 0.17, R + 0.05))]  # exhaust
    if sport:
        parts.append(box((0.4, 0.3, 0.3), (front - 0.3, 0, engine_z + 0.3)))  # fairing
    cap = f"a {'sport' if sport else 'standard'} motorcycle with two wheels, a fuel tank and a seat"
    return parts, dict(wheel_radius=R, wheelbase=wb, sport=sport), cap


def bicycle(rng):
    R, wb = rng.uniform(0.3, 0.36), rng.uniform(0.95, 1.1)
    tube = 0.02
    rear, front = -wb / 2, wb / 2
    bb = np.array([-0.05, 0, R * 0.85])  # bottom bracket
    seat_top = np.array([rear + 0.28, 0, R + rng.uniform(0.5, 0.65)])
    head = np.array([front - 0.12, 0, R + 0.5])
    t = 0.018
    parts = _wheel(rear, R, tube, 0.05, spokes=3) + _wheel(front, R, tube, 0.05, spokes=3)
    for a, b in [(bb, seat_top), (bb, head), (seat_top - [0, 0, 0.05], head), (bb, (rear, 0, R)), (seat_top - [0, 0, 0.05], (rear, 0, R)),
                 ((front, 0, R), head), (head, head + [-0.05, 0, 0.12])]:
        parts.append(rod(t, a, b, sections=12))
    parts.append(rod(0.014, head + [-0.05, -0.25, 0.12], head + [-0.05, 0.25, 0.12], sections=12))  # handlebar
    parts.append(ellipsoid((0.13, 0.06, 0.03), seat_top + [0, 0, 0.02]))  # saddle
    cap = f"a bicycle with a {'tall' if seat_top[2] - R > 0.58 else 'low'} diamond frame and spoked wheels"
    return parts, dict(wheel_radius=R, wheelbase=wb, saddle_height=float(seat_top[2])), cap


def boat(rng):
    L, W, D = rng.uniform(3, 8), rng.uniform(1.2, 2.5), rng.uniform(0.5, 1.0)
    cabin = bool(rng.random() < 0.6)
    mast = bool(rng.random() < 0.35)
    hull = ellipsoid((L / 2, W / 2, D), (0, 0, 0), subdivisions=4)
    hull = difference(hull, box((L * 2, W * 2, D * 2), (0, 0, D + 0.1 * D)))  # keep below the deck line
    parts = [hull]
    if cabin:
        parts.append(box((L * 0.3, W * 0.55, D * 0.8), (-L * 0.05, 0, 0.1 * D + D * 0.4 - 0.02)))
    if mast:
        parts.append(rod(0.05, (L * 0.1, 0, 0), (L * 0.1, 0, L * 0.8)))
    cap = f"a {'sail' if mast else 'motor' if cabin else 'row'}boat{' with a cabin' if cabin else ''}"
    return parts, dict(length=L, width=W, depth=D, cabin=cabin, mast=mast), cap
