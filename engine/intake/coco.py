"""COCO-style instance annotations, read and checked: the file's structure and each annotation's mask.

Segmentations come in the three forms of the COCO format: polygons (`[[x0, y0, x1, y1, ...], ...]`
in pixel coordinates, the pixel grid's corners at integers), uncompressed RLE (`{"size": [h, w],
"counts": [...]}`) and compressed RLE (`counts` a string). COCO's RLE runs over the mask in
column-major order, ours (engine.intake.masks) in row-major order: pycocotools, the format's
reference implementation, decodes all three into a (H, W) array, which masks.encode re-encodes.

Nothing here touches the database: `read` returns the file's parts, `segmentation_mask` one mask or
a CocoError that says what is wrong with it.
"""

import json
import warnings
from dataclasses import dataclass, field

import numpy as np

# A polygon vertex may lie this far outside the image (pixels): COCO tools put vertices on the
# image's border at x = width, and rounding moves them a little further.
EDGE_TOLERANCE = 1.0


class CocoError(ValueError):
    """An annotation file, or one annotation of it, that cannot be imported; `code` names the problem."""

    def __init__(self, message, code="malformed"):
        super().__init__(message)
        self.code = code


@dataclass
class CocoFile:
    """The parts of a COCO instance-annotation file the import reads."""

    images: dict  # COCO image id -> {"id", "file_name", "width", "height"}
    categories: dict  # COCO category id -> name
    annotations: list  # [{"id", "image_id", "category_id", "segmentation", ...}] in file order
    description: str = ""
    problems: list = field(default_factory=list)  # CocoErrors of single entries, found while reading


def _int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def read(data):
    """Return the CocoFile of a COCO file's bytes, text or parsed dict; raise CocoError if its structure is wrong.

    A wrong entry (an image without a size, a repeated id) is collected in `problems` with the others,
    so that one answer lists them all.
    """
    if isinstance(data, bytes | str):
        try:
            data = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CocoError(f"The annotation file is not JSON ({exc}).") from None
    if not isinstance(data, dict):
        raise CocoError("A COCO annotation file is a JSON object with 'images', 'annotations' and 'categories'.")
    missing = [key for key in ("images", "annotations", "categories") if not isinstance(data.get(key), list)]
    if missing:
        raise CocoError(f"The annotation file has no list {', '.join(repr(k) for k in missing)}; a COCO instance "
                        "file has 'images', 'annotations' and 'categories'.")
    problems, images, categories, annotations = [], {}, {}, []
    for entry in data["images"]:
        if not isinstance(entry, dict) or not _int(entry.get("id")):
            problems.append(CocoError(f"Image entry {str(entry)[:80]} has no integer 'id'."))
            continue
        if entry["id"] in images:
            problems.append(CocoError(f"Image id {entry['id']} appears twice in 'images'.", "duplicate_id"))
            continue
        name, width, height = entry.get("file_name"), entry.get("width"), entry.get("height")
        if not isinstance(name, str) or not name or not (_int(width) and _int(height)) or width <= 0 or height <= 0:
            problems.append(CocoError(f"Image {entry['id']} needs a 'file_name' and a positive integer 'width' and "
                                      "'height'."))
            continue
        images[entry["id"]] = {"id": entry["id"], "file_name": name, "width": width, "height": height}
    for entry in data["categories"]:
        if not isinstance(entry, dict) or not _int(entry.get("id")) or not isinstance(entry.get("name"), str):
            problems.append(CocoError(f"Category entry {str(entry)[:80]} needs an integer 'id' and a 'name'."))
            continue
        if entry["id"] in categories:
            problems.append(CocoError(f"Category id {entry['id']} appears twice in 'categories'.", "duplicate_id"))
            continue
        categories[entry["id"]] = entry["name"]
    seen = set()
    for entry in data["annotations"]:
        if not isinstance(entry, dict) or not _int(entry.get("id")):
            problems.append(CocoError(f"Annotation entry {str(entry)[:80]} has no integer 'id'."))
            continue
        if entry["id"] in seen:
            problems.append(CocoError(f"Annotation id {entry['id']} appears twice in 'annotations'.", "duplicate_id"))
            continue
        seen.add(entry["id"])
        annotations.append(entry)
    info = data.get("info") if isinstance(data.get("info"), dict) else {}
    return CocoFile(images, categories, annotations, str(info.get("description", ""))[:100], problems)


def segmentation_mask(segmentation, height, width):
    with warnings.catch_warnings():
        # pycocotools 2.0 wraps its arrays in a way numpy 2 warns about on every decode; the values are right.
        warnings.filterwarnings("ignore", "__array__ implementation", DeprecationWarning)
        return _segmentation_mask(segmentation, height, width)


def _segmentation_mask(segmentation, height, width):
    """Return the (H, W) bool mask of a COCO segmentation on an image of that size; raise CocoError if it is refused.

    Refused: a malformed segmentation, a polygon with a vertex outside the image (beyond EDGE_TOLERANCE),
    an RLE of another size than the image's, and a mask with no pixel.
    """
    from pycocotools import mask as coco_mask

    if isinstance(segmentation, list):
        polygons = segmentation
        if not polygons or not all(isinstance(p, list) and len(p) >= 6 and len(p) % 2 == 0 for p in polygons):
            raise CocoError("A polygon segmentation is a list of polygons [x0, y0, x1, y1, ...] of at least 3 points.")
        try:
            flat = np.concatenate([np.asarray(p, dtype=np.float64) for p in polygons])
        except (TypeError, ValueError):
            raise CocoError("Polygon coordinates must be numbers.") from None
        if not np.isfinite(flat).all():
            raise CocoError("Polygon coordinates must be finite numbers.")
        xs, ys = flat[0::2], flat[1::2]
        out = (xs < -EDGE_TOLERANCE) | (xs > width + EDGE_TOLERANCE) | (ys < -EDGE_TOLERANCE) | (ys > height + EDGE_TOLERANCE)
        if out.any():
            i = int(np.flatnonzero(out)[0])
            raise CocoError(f"The polygon has a vertex at ({xs[i]:g}, {ys[i]:g}), outside the {width}x{height} image.",
                            "out_of_image")
        rles = coco_mask.frPyObjects([[float(v) for v in p] for p in polygons], height, width)
        mask = coco_mask.decode(coco_mask.merge(rles))
    elif isinstance(segmentation, dict):
        size, counts = segmentation.get("size"), segmentation.get("counts")
        if not (isinstance(size, list) and len(size) == 2 and all(_int(v) and v > 0 for v in size)):
            raise CocoError("An RLE segmentation has 'size': [height, width].")
        if list(size) != [height, width]:
            raise CocoError(f"The RLE mask is {size[1]}x{size[0]} but the image is {width}x{height}: it reaches outside "
                            "the image.", "out_of_image")
        if isinstance(counts, list):
            if not all(_int(c) and c >= 0 for c in counts):
                raise CocoError("RLE counts must be non-negative integers.")
            if sum(counts) != height * width:
                raise CocoError(f"The RLE runs add up to {sum(counts)} pixels; a {height}x{width} mask has "
                                f"{height * width}.")
            rle = coco_mask.frPyObjects({"size": size, "counts": counts}, height, width)
        elif isinstance(counts, str):
            rle = {"size": size, "counts": counts.encode("ascii", "replace")}
        else:
            raise CocoError("RLE counts are a list of run lengths or a compressed string.")
        try:
            mask = coco_mask.decode(rle)
        except Exception as exc:  # pycocotools raises plain Exceptions for bad strings  # noqa: BLE001
            raise CocoError(f"The compressed RLE cannot be decoded ({exc}).") from None
        if isinstance(counts, str) and int(coco_mask.area(rle)) != int(mask.sum()):
            raise CocoError("The compressed RLE does not cover the image exactly.")
    else:
        raise CocoError("A segmentation is a list of polygons or an RLE object.")
    mask = np.ascontiguousarray(mask, dtype=bool)
    if not mask.any():
        raise CocoError("The mask has no pixel inside the image.", "empty_mask")
    return mask
