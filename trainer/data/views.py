"""Conditioning views: the crop around the mask (with the crop mask) and the full image (with the mask)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def _resize(x: np.ndarray, size: int) -> np.ndarray:
    """(H, W, C) float -> (C, size, size), antialiased bilinear."""
    t = torch.from_numpy(np.ascontiguousarray(x)).permute(2, 0, 1)[None].float()
    return F.interpolate(t, size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0].numpy()


def crop_box(mask: np.ndarray, margin: float = 1.25) -> tuple[int, int, int]:
    """Return (cy, cx, half) of a square box around the mask, `margin` times its larger side."""
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        h, w = mask.shape
        return h // 2, w // 2, max(h, w) // 2
    cy, cx = (ys.min() + ys.max()) // 2, (xs.min() + xs.max()) // 2
    half = max(4, int(np.ceil(margin * max(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1) / 2)))
    return int(cy), int(cx), half


def make_views(image: np.ndarray, mask: np.ndarray, size: int) -> np.ndarray:
    """(H, W, 3) uint8 image, (H, W) bool mask -> (2, 4, size, size) uint8: [crop, full] x [RGB, mask]."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be HxWx3 uint8, got shape {image.shape}")
    if mask.shape != image.shape[:2]:
        raise ValueError(f"mask shape {mask.shape} does not match image {image.shape[:2]}")
    rgbm = np.concatenate([image.astype(np.float32), mask[..., None].astype(np.float32) * 255], axis=2)
    cy, cx, half = crop_box(mask)
    padded = np.pad(rgbm, ((half, half), (half, half), (0, 0)))
    crop = padded[cy: cy + 2 * half, cx: cx + 2 * half]      # centre shifts by +half with the padding
    h, w = image.shape[:2]
    side = max(h, w)
    full = np.pad(rgbm, ((0, side - h), (0, side - w), (0, 0)))
    out = np.stack([_resize(crop, size), _resize(full, size)])
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def views_to_tensor(views: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 (..., 2, 4, S, S) -> float in [0, 1]."""
    return torch.as_tensor(views).float() / 255.0
