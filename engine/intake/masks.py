"""Binary masks stored as run-length encodings.

Format: {"size": [height, width], "counts": [n0, n1, n2, ...]} over the mask flattened in
row-major (C) order; runs alternate starting with background (n0 may be 0).
"""

import numpy as np
from scipy import ndimage


class MaskError(ValueError):
    """A mask that cannot be accepted, with the reason."""


def encode(mask):
    """Return the RLE of a boolean (H, W) mask."""
    mask = np.asarray(mask, dtype=bool)
    flat = mask.ravel()
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], changes, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts = [0] + counts
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": [int(c) for c in counts]}


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def decode(rle, image_size=None):
    """Return the boolean (H, W) mask of an RLE, checking that it is well formed.

    With ``image_size`` (width, height) the mask's claimed size is checked against it before
    anything is decoded, so a hostile size cannot make us allocate height x width bytes.
    """
    try:
        size, counts = rle["size"], rle["counts"]
        height, width = size
    except (KeyError, TypeError, ValueError) as exc:
        raise MaskError("A mask is {'size': [height, width], 'counts': [runs...]}.") from exc
    if not (_is_int(height) and _is_int(width)):
        raise MaskError(f"Mask size must be two integers [height, width], got {size!r}.")
    if height <= 0 or width <= 0:
        raise MaskError(f"Mask size must be positive, got {height}x{width}.")
    if image_size is not None and (width, height) != tuple(image_size):
        raise MaskError(f"Mask is {width}x{height} but the image is {image_size[0]}x{image_size[1]}.")
    if not isinstance(counts, (list, tuple)) or not all(_is_int(c) and c >= 0 for c in counts):
        raise MaskError("Mask counts must be a flat list of non-negative run lengths.")
    total = sum(int(c) for c in counts)  # Python ints: a sum of huge runs cannot wrap around as int64 would
    if total != height * width:
        raise MaskError(f"Mask runs add up to {total} pixels; a {height}x{width} mask has {height * width}.")
    values = np.zeros(len(counts), dtype=bool)
    values[1::2] = True
    return np.repeat(values, np.asarray(counts, dtype=np.int64)).reshape(height, width)


def regions(mask, min_fraction):
    """Return the areas of the connected regions larger than min_fraction of the mask area."""
    labels, n = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if n == 0:
        return []
    areas = np.bincount(labels.ravel())[1:]
    total = areas.sum()
    return sorted((int(a) for a in areas if a >= min_fraction * total), reverse=True)


def degenerate(mask, max_fraction):
    """Return why a mask cannot be an object (empty, or nearly the whole image), or "" if it can."""
    if not mask.any():
        return "The mask is empty: click on the object, or draw a box around it."
    fraction = float(mask.mean())
    if fraction > max_fraction:
        return (f"The mask covers {100 * fraction:.1f} % of the image; an object rarely fills {100 * max_fraction:.0f} % of "
                "it. Shift+click the background, or draw a box around the object.")
    return ""


def validate(mask, image_size, min_fraction, confirm_multi_region=False, max_fraction=1.0):
    """Check a decoded mask against its image; raise MaskError with the reason if it is refused."""
    width, height = image_size
    if mask.shape != (height, width):
        raise MaskError(f"Mask is {mask.shape[1]}x{mask.shape[0]} but the image is {width}x{height}.")
    if not mask.any():
        raise MaskError("Mask is empty: select at least one pixel of the object.")
    if mask.mean() > max_fraction:
        raise MaskError(degenerate(mask, max_fraction))
    big = regions(mask, min_fraction)
    if len(big) > 1 and not confirm_multi_region:
        raise MaskError(
            f"Mask covers {len(big)} separate regions; an object is usually one. "
            "Fix the mask, or confirm with confirm_multi_region=true if the object is occluded."
        )


def bbox(mask):
    """Return [x0, y0, x1, y1] (inclusive-exclusive) of the mask's pixels."""
    ys, xs = np.nonzero(mask)
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]
