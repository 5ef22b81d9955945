"""A rotation-tolerant silhouette descriptor: an angular-radial occupancy histogram.

The mask's pixels, centred on their centroid and scaled by their mean radius, are binned into
RINGS x SECTORS cells. Rotating the mask in the image plane rolls the sector axis, so comparing
under every circular shift is rotation tolerant, and the best shift tells the in-plane angle.
"""

from __future__ import annotations

import numpy as np

RING_EDGES = np.array([0.0, 0.5, 0.9, 1.3, 1.7, 2.3, 4.0])  # radius / mean radius
SECTORS = 32


def descriptor(mask: np.ndarray, max_pixels: int = 20_000) -> np.ndarray:
    """Return the (RINGS, SECTORS) float32 histogram of a bool mask, summing to 1 (zeros for an empty mask)."""
    v, u = np.nonzero(mask)
    hist = np.zeros((len(RING_EDGES) - 1, SECTORS), np.float32)
    if len(u) < 3:
        return hist
    if len(u) > max_pixels:  # a fixed stride keeps this deterministic and fast on large masks
        step = len(u) // max_pixels + 1
        u, v = u[::step], v[::step]
    dx, dy = u - u.mean(), v - v.mean()
    r = np.hypot(dx, dy)
    r = r / max(r.mean(), 1e-9)
    theta = np.arctan2(dy, dx)  # image axes: x right, y down
    ring = np.clip(np.searchsorted(RING_EDGES, r, side="right") - 1, 0, len(RING_EDGES) - 2)
    sector = ((theta + np.pi) / (2 * np.pi) * SECTORS).astype(int) % SECTORS
    np.add.at(hist, (ring, sector), 1.0)
    return hist / hist.sum()


def match(query: np.ndarray, bank: np.ndarray, max_roll: float = np.pi) -> tuple[np.ndarray, np.ndarray]:
    """Compare a (R, S) query against a (N, R, S) bank under every sector shift within ``max_roll``.

    Returns (distance (N,), angle (N,) in radians): the L1 distance at the best shift, and the
    in-plane rotation that turns the bank silhouette into the query (image x towards y).
    """
    shifts = np.arange(-SECTORS // 2, SECTORS // 2)
    shifts = shifts[np.abs(shifts) * 2 * np.pi / SECTORS <= max_roll + 1e-9]
    # query rolled by -k compared with bank  ==  query compared with bank rolled by +k
    rolled = np.stack([np.roll(query, -k, axis=1).ravel() for k in shifts])  # (K, R*S)
    flat = bank.reshape(len(bank), -1)  # (N, R*S)
    dist = np.abs(flat[:, None, :] - rolled[None, :, :]).sum(axis=2)  # (N, K)
    best = dist.argmin(axis=1)
    return dist[np.arange(len(bank)), best], shifts[best] * 2 * np.pi / SECTORS
