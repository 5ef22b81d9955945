"""Features of an object for grouping look-alikes: its image region, a mesh's shape, and its description.

Each block is a float32 vector of unit length, so the cosine distance of two objects in a block is
1 − ⟨a, b⟩ ∈ [0, 2]:
- image (IMAGE_DIM): the masked region's colour (HSV histogram, 8×4×4, square-rooted), its
  silhouette (the angular-radial histogram of shape_descriptor, as the magnitudes of its first
  HARMONICS Fourier terms along the angle: the same under in-plane rotation) and its edges (a
  12-bin gradient-orientation histogram weighted by magnitude), each block normalised, then the whole;
- shape (SHAPE_DIM): the D2 shape distribution (Osada et al. 2002) of a mesh scaled to an RMS radius of 1
  about its centroid (a histogram of the distances between random surface points, the same under rotation) and
  its three principal extents, sorted;
- text: the sentence embedding of "category. description" (embeddings.py, all-MiniLM-L6-v2).
"""

from __future__ import annotations

import numpy as np

from model_suite import shape_descriptor

HARMONICS = 8
COLOUR_BINS = (8, 4, 4)
EDGE_BINS = 12
D2_BINS = 32
D2_PAIRS = 4096
D2_RANGE = 4.0  # distances in RMS radii: a needle's ends are 2√3 ≈ 3.5 apart
IMAGE_DIM = int(np.prod(COLOUR_BINS)) + (len(shape_descriptor.RING_EDGES) - 1) * HARMONICS + EDGE_BINS
SHAPE_DIM = D2_BINS + 3


def _unit(v):
    v = np.asarray(v, np.float32).ravel()
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


def image_features(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Return the (IMAGE_DIM,) unit vector of an (H, W, 3) uint8 image's region under an (H, W) bool mask."""
    import cv2

    mask = np.asarray(mask, bool)
    if not mask.any():
        return np.zeros(IMAGE_DIM, np.float32)
    rows, cols = np.nonzero(mask)
    y0, y1, x0, x1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    crop, region = np.ascontiguousarray(image[y0:y1, x0:x1, :3]), mask[y0:y1, x0:x1]
    hsv = cv2.cvtColor(crop, cv2.COLOR_RGB2HSV)[region]  # (N, 3): H in [0, 180), S and V in [0, 256)
    index = [np.minimum((hsv[:, 0].astype(int) * COLOUR_BINS[0]) // 180, COLOUR_BINS[0] - 1),
             (hsv[:, 1].astype(int) * COLOUR_BINS[1]) // 256, (hsv[:, 2].astype(int) * COLOUR_BINS[2]) // 256]
    colour = np.zeros(COLOUR_BINS, np.float32)
    np.add.at(colour, tuple(index), 1.0)
    silhouette = np.abs(np.fft.rfft(shape_descriptor.descriptor(mask), axis=1))[:, :HARMONICS]
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.float32)
    gx, gy = cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1)
    magnitude, angle = np.hypot(gx, gy)[region], np.arctan2(gy, gx)[region] % np.pi
    edges = np.bincount(np.minimum((angle / np.pi * EDGE_BINS).astype(int), EDGE_BINS - 1),
                        weights=magnitude, minlength=EDGE_BINS)
    return _unit(np.concatenate([_unit(np.sqrt(colour)), _unit(silhouette), _unit(edges)]))


def shape_features(vertices: np.ndarray, faces: np.ndarray, seed: int = 0) -> np.ndarray:
    """Return the (SHAPE_DIM,) unit vector of a mesh: its D2 histogram and sorted principal extents."""
    import trimesh

    mesh = trimesh.Trimesh(np.asarray(vertices, np.float64), np.asarray(faces), process=False)
    points, _ = trimesh.sample.sample_surface(mesh, 2 * D2_PAIRS, seed=seed)
    points = np.asarray(points) - np.mean(points, axis=0)
    points /= float(np.sqrt((points ** 2).sum(axis=1).mean())) or 1.0  # RMS radius 1: the same under rotation
    distances = np.linalg.norm(points[:D2_PAIRS] - points[D2_PAIRS:], axis=1)
    d2 = np.histogram(distances, bins=D2_BINS, range=(0.0, D2_RANGE))[0].astype(np.float32)
    extents = np.sort(np.sqrt(np.maximum(np.linalg.eigvalsh(np.cov(points.T)), 0.0)))[::-1]
    return _unit(np.concatenate([_unit(d2), _unit(extents)]))
