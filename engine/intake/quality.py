"""Quality checks run when an image is ingested."""

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class Quality:
    ok: bool
    reason: str
    blur_variance: float
    contrast: float


def assess(gray, min_side, min_blur_variance, min_contrast):
    """Return the quality of a grayscale image in [0, 255]: resolution, blur, contrast.

    Blur is the variance of the Laplacian (low = few edges = blurry); contrast is the standard
    deviation of intensities over 255.
    """
    gray = np.asarray(gray, dtype=np.float64)
    height, width = gray.shape
    blur = float(ndimage.laplace(gray).var())
    contrast = float(gray.std() / 255.0)
    if min(height, width) < min_side:
        return Quality(False, f"low resolution: {width}x{height}, shorter side below {min_side}px", blur, contrast)
    if blur < min_blur_variance:
        return Quality(False, f"blurry: variance of Laplacian {blur:.1f} < {min_blur_variance}", blur, contrast)
    if contrast < min_contrast:
        return Quality(False, f"low contrast: {contrast:.3f} < {min_contrast}", blur, contrast)
    return Quality(True, "", blur, contrast)
