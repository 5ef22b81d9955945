"""Furniture: parametric chairs, stools, tables, shelves, benches, sofas, cabinets, beds and lamps (z-up, metres)."""

from __future__ import annotations

import numpy as np
import trimesh

from .parts import box, disk, ellipsoid, lathe, ring_profile, rod
from .common import legs, size_word


def chair(rng):
    w, d = rng.uniform(0.4, 0.6), rng.uniform(0.4, 0.55)
    seat_h, back_h, t = rng.uniform(0.4, 0.5), rng.uniform(0.3, 0.6), rng.uniform(0.03, 0.06)
    square = bool(rng.random() < 0.5)
    arms = bool(rng.random() < 0.35)
    parts = [box((w, d, t), (0, 0, seat_h + t / 2)), box((w, t, back_h), (0, d / 2 - t / 2, seat_h + t + back_h / 2 - 0.005))]
    parts += legs(rng, w, d, seat_h, 0.04, rng.uniform(0.015, 0.03), square)
    if arms:
        for sx in (-1, 1):
            parts.append(box((0.04, d, 0.04), (sx * (w / 2 - 0.02), 0, seat_h + 0.22)))
            parts.append(rod(0.015, (sx * (w / 2 - 0.02), -d / 2 + 0.04, seat_h), (sx * (w / 2 - 0.02), -d / 2 + 0.04, seat_h + 0.23)))
    cap = f"a chair with a {size_word(back_h, 0.3, 0.6, ('low', 'medium', 'high'))} backrest, {'square' if square else 'round'} legs{' and armrests' if arms else ''}"
    return parts, dict(width=w, depth=d, seat_height=seat_h, back_height=back_h, square_legs=square, arms=arms), cap


def stool(rng):
    r, h = rng.uniform(0.15, 0.25), rng.uniform(0.45, 0.8)
    n_legs = int(rng.choice([3, 4]))
    ring = bool(rng.random() < 0.6)
    round_seat = bool(rng.random() < 0.7)
    parts = [disk(r, 0.04, (0, 0, h)) if round_seat else box((2 * r, 2 * r, 0.04), (0, 0, h))]
    for k in range(n_legs):
        a = 2 * np.pi * k / n_legs
        top, foot = np.array([np.cos(a), np.sin(a)]) * r * 0.7, np.array([np.cos(a), np.sin(a)]) * r * 1.05
        parts.append(rod(0.018, (*foot, 0), (*top, h)))
    if ring:
        ring_z = h * 0.35
        rr = r * (1.05 - 0.35 * ring_z / h)
        parts.append(trimesh.creation.torus(rr, 0.012, major_sections=32, minor_sections=8).apply_translation((0, 0, ring_z)))
    cap = f"a {size_word(h, 0.45, 0.8, ('low', 'counter-height', 'bar'))} stool with a {'round' if round_seat else 'square'} seat and {n_legs} legs{' joined by a ring' if ring else ''}"
    return parts, dict(radius=r, height=h, legs=n_legs, ring=ring, round_seat=round_seat), cap


def table(rng):
    round_top = bool(rng.random() < 0.35)
    w, d, h = rng.uniform(0.6, 1.8), rng.uniform(0.5, 1.0), rng.uniform(0.4, 0.8)
    pedestal = round_top and rng.random() < 0.6
    if round_top:
        d = w = min(w, 1.2)
        parts = [disk(w / 2, 0.04, (0, 0, h))]
    else:
        parts = [box((w, d, 0.04), (0, 0, h))]
    if pedestal:
        parts += [rod(0.05, (0, 0, 0.02), (0, 0, h)), disk(w / 4, 0.04, (0, 0, 0.02))]
    else:
        inset = w * 0.15 if round_top else 0.06
        parts += legs(rng, w * (0.75 if round_top else 1), d * (0.75 if round_top else 1), h - 0.02, inset, 0.025, not round_top)
    kind = "coffee table" if h < 0.55 else "table"
    cap = f"a {'round' if round_top else 'rectangular'} {kind} on {'a central pedestal' if pedestal else 'four legs'}"
    return parts, dict(width=w, depth=d, height=h, round=round_top, pedestal=bool(pedestal)), cap


def shelf(rng):
    w, d, h = rng.uniform(0.5, 1.2), rng.uniform(0.25, 0.4), rng.uniform(0.6, 2.0)
    n = int(rng.integers(2, 6))
    back = bool(rng.random() < 0.5)
    t = 0.025
    parts = [box((t, d, h), (sx * (w / 2 - t / 2), 0, h / 2)) for sx in (-1, 1)]
    for z in np.linspace(t / 2, h - t / 2, n):
        parts.append(box((w - 0.002, d, t), (0, 0, z)))
    if back:
        parts.append(box((w, t / 2, h), (0, d / 2 - t / 4, h / 2)))
    cap = f"a {size_word(h, 0.6, 2.0)} shelf with {n} boards{' and a back panel' if back else ', open at the back'}"
    return parts, dict(width=w, depth=d, height=h, boards=n, back=back), cap


def bench(rng):
    w, d, h = rng.uniform(1.0, 2.0), rng.uniform(0.3, 0.5), rng.uniform(0.4, 0.5)
    panels = bool(rng.random() < 0.5)
    backrest = bool(rng.random() < 0.4)
    parts = [box((w, d, 0.05), (0, 0, h))]
    if panels:
        parts += [box((0.05, d * 0.9, h), (sx * (w / 2 - 0.1), 0, h / 2)) for sx in (-1, 1)]
    else:
        parts += legs(rng, w, d, h - 0.02, 0.06, 0.025, True)
    if backrest:
        parts.append(box((w, 0.04, 0.35), (0, d / 2 - 0.02, h + 0.2)))
    cap = f"a bench on {'two side panels' if panels else 'four legs'}{' with a backrest' if backrest else ''}"
    return parts, dict(width=w, depth=d, height=h, panels=panels, backrest=backrest), cap


def lamp(rng):
    h = rng.uniform(0.3, 1.6)
    base_r, shade_r = rng.uniform(0.08, 0.18), rng.uniform(0.1, 0.25)
    shade_h = shade_r * rng.uniform(0.8, 1.4)
    cone = bool(rng.random() < 0.6)
    top_r = shade_r * (0.55 if cone else 1.0)
    spoke = shade_r + 0.7 * (top_r - shade_r) - 0.003  # reaches into the shade wall so the union is one body
    parts = [disk(base_r, 0.03, (0, 0, 0.015)), rod(0.012, (0, 0, 0.02), (0, 0, h)),
             lathe(ring_profile([[shade_r, h - shade_h * 0.7], [top_r, h + shade_h * 0.3]], 0.006)),
             rod(0.008, (-spoke, 0, h), (spoke, 0, h)), ellipsoid((0.03, 0.03, 0.04), (0, 0, h))]
    cap = f"a {'floor' if h > 1.0 else 'table'} lamp with a {'conical' if cone else 'drum'} shade on a round base"
    return parts, dict(height=h, base_radius=base_r, shade_radius=shade_r, conical=cone), cap


def sofa(rng):
    w, d, seat_h = rng.uniform(1.4, 2.4), rng.uniform(0.8, 1.0), rng.uniform(0.38, 0.48)
    back_h, arm_h = rng.uniform(0.35, 0.55), rng.uniform(0.15, 0.3)
    arms = bool(rng.random() < 0.8)
    base = seat_h - 0.1
    parts = [box((w, d, base - 0.08), (0, 0, 0.08 + (base - 0.08) / 2)),
             box((w, d * 0.85, 0.12), (0, -d * 0.075, base + 0.05)),
             box((w, d * 0.2, back_h + 0.15), (0, d * 0.4, base + (back_h + 0.15) / 2))]
    if arms:
        parts += [box((0.16, d, arm_h + 0.12), (sx * (w / 2 - 0.08), 0, base + (arm_h + 0.12) / 2 - 0.02)) for sx in (-1, 1)]
    parts += legs(rng, w, d, 0.1, 0.08, 0.03, True)
    cap = f"a {'long ' if w > 2.0 else ''}sofa with a {size_word(back_h, 0.35, 0.55, ('low', 'medium', 'high'))} back{' and armrests' if arms else ', armless'}"
    return parts, dict(width=w, depth=d, seat_height=seat_h, back_height=back_h, arms=arms), cap


def cabinet(rng):
    w, d, h = rng.uniform(0.5, 1.2), rng.uniform(0.35, 0.6), rng.uniform(0.6, 2.0)
    n_doors = int(rng.choice([1, 2]))
    drawers = int(rng.integers(0, 4))
    parts = [box((w, d, h - 0.08), (0, 0, 0.08 + (h - 0.08) / 2))]
    door_top = h - 0.03
    if drawers:
        dh = min(0.18, (h - 0.2) / (drawers + 2))
        for k in range(drawers):
            z = h - 0.03 - dh * (k + 0.5)
            parts += [box((w - 0.04, 0.03, dh - 0.02), (0, -d / 2 - 0.005, z)), box((w * 0.25, 0.03, 0.02), (0, -d / 2 - 0.03, z))]
        door_top = h - 0.03 - dh * drawers
    dw = (w - 0.04) / n_doors
    for k in range(n_doors):
        x = -w / 2 + 0.02 + dw * (k + 0.5)
        parts.append(box((dw - 0.01, 0.03, door_top - 0.12), (x, -d / 2 - 0.005, 0.1 + (door_top - 0.12) / 2)))
        parts.append(box((0.02, 0.03, 0.12), (x + (dw / 2 - 0.06) * (1 if k == n_doors - 1 else -1), -d / 2 - 0.03, 0.1 + (door_top - 0.12) / 2)))
    parts += legs(rng, w, d, 0.09, 0.04, 0.02, True)
    cap = f"a {size_word(h, 0.6, 2.0)} cabinet with {n_doors} door{'s' if n_doors > 1 else ''}" + (f" and {drawers} drawer{'s' if drawers > 1 else ''}" if drawers else "")
    return parts, dict(width=w, depth=d, height=h, doors=n_doors, drawers=drawers), cap


def bed(rng):
    w, L = rng.uniform(0.9, 1.9), rng.uniform(1.9, 2.2)
    frame_h, mattress_h = rng.uniform(0.2, 0.35), rng.uniform(0.15, 0.3)
    head_h = rng.uniform(0.4, 1.0)
    footboard = bool(rng.random() < 0.4)
    parts = [box((w, L, frame_h - 0.1), (0, 0, 0.1 + (frame_h - 0.1) / 2)),
             box((w - 0.06, L - 0.1, mattress_h), (0, 0.02, frame_h + mattress_h / 2 - 0.01)),
             box((w, 0.06, frame_h + head_h), (0, L / 2 - 0.03, (frame_h + head_h) / 2))]
    if footboard:
        parts.append(box((w, 0.05, frame_h + 0.2), (0, -L / 2 + 0.025, (frame_h + 0.2) / 2)))
    parts += legs(rng, w, L, 0.11, 0.05, 0.03, True)
    cap = f"a {'double' if w > 1.3 else 'single'} bed with a {'tall' if head_h > 0.75 else 'low'} headboard{' and a footboard' if footboard else ''}"
    return parts, dict(width=w, length=L, frame_height=frame_h, headboard=head_h, footboard=footboard), cap
