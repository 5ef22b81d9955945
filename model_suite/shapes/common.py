"""Helpers shared by the shape families: size words for captions, and legs under a top."""

from __future__ import annotations

from .parts import box, rod


def size_word(x: float, lo: float, hi: float, words=("low", "medium", "tall")) -> str:
    return words[min(2, int(3 * (x - lo) / (hi - lo + 1e-9)))]


def legs(rng, w, d, h, inset, radius, square: bool):
    """Four legs under a w x d top at height h; overlap the top by a little so the union is one body."""
    xs, ys = w / 2 - inset, d / 2 - inset
    out = []
    for sx in (-1, 1):
        for sy in (-1, 1):
            if square:
                out.append(box((2 * radius, 2 * radius, h + 0.01), (sx * xs, sy * ys, (h + 0.01) / 2)))
            else:
                out.append(rod(radius, (sx * xs, sy * ys, 0), (sx * xs, sy * ys, h + 0.01)))
    return out
