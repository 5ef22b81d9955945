"""Bit-packing of boolean occupancy grids (8x smaller caches)."""
from __future__ import annotations

import numpy as np


def pack_occ(occ: np.ndarray) -> np.ndarray:
    """(N, G, G, G) bool -> (N, G^3/8) uint8."""
    return np.packbits(occ.reshape(len(occ), -1).astype(bool), axis=1)


def unpack_occ(packed: np.ndarray, grid: int) -> np.ndarray:
    """(N, G^3/8) uint8 -> (N, G, G, G) bool."""
    return np.unpackbits(packed, axis=1, count=grid ** 3).reshape(-1, grid, grid, grid).astype(bool)
