"""A small COCO instance file made from real photographs (scikit-image), with masks derived from the pixels.

- coins.png (`skimage.data.coins`, 384x303): each coin is a bright region on the dark tray (Otsu
  threshold, holes filled); a region is kept only if it is one round coin (solidity > 0.9,
  eccentricity < 0.6), which drops the two coins that touch. Category "coin", a name the taxonomy
  does not know.
- camera.png (`skimage.data.camera`, 512x512): the cameraman is the largest dark region (Otsu) inside
  the part of the frame he stands in, which cuts the dark lawn away. Category "man", a synonym of person.

The coins alternate the three COCO segmentation forms: polygon, compressed RLE, uncompressed RLE.
"""

import json

import numpy as np
from PIL import Image
from scipy import ndimage
from skimage import data, filters, measure, morphology


def coin_masks():
    """Return the (H, W) bool masks of the separate coins of skimage.data.coins, left to right, top to bottom."""
    gray = data.coins()
    bright = ndimage.binary_fill_holes(morphology.closing(gray > filters.threshold_otsu(gray), morphology.disk(2)))
    labels = measure.label(bright)
    coins = [r for r in measure.regionprops(labels) if r.area > 500 and r.solidity > 0.9 and r.eccentricity < 0.6]
    coins.sort(key=lambda r: (round(r.centroid[0] / 60), r.centroid[1]))
    return [labels == r.label for r in coins]


def cameraman_mask():
    """Return the cameraman's mask in skimage.data.camera: the largest dark region above the lawn's horizon."""
    gray = data.camera()
    dark = gray < filters.threshold_otsu(gray)
    dark[380:, :] = False  # the lawn below his knees joins everything dark; the tripod's feet go with it
    dark[:, 330:] = False
    labels = measure.label(dark)
    largest = max(measure.regionprops(labels), key=lambda r: r.area)
    return ndimage.binary_fill_holes(labels == largest.label)


def polygon_of(mask):
    """Return COCO polygons ([[x0, y0, ...]]) of a mask's outline, in pixel-corner coordinates."""
    contours = measure.find_contours(np.pad(mask, 1).astype(float), 0.5)
    polygons = []
    for contour in contours:
        contour = measure.approximate_polygon(contour, tolerance=0.5)
        if len(contour) >= 3:
            # find_contours runs through pixel centres of the padded mask: (row - 1, col - 1) is the
            # centre of the pixel, and + 0.5 puts it on the pixel-corner grid COCO rasterizes on.
            polygons.append([float(v) for rc in contour for v in (rc[1] - 0.5, rc[0] - 0.5)])
    return polygons


def compressed_rle(mask):
    from pycocotools import mask as coco_mask

    rle = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": list(rle["size"]), "counts": rle["counts"].decode("ascii")}


def uncompressed_rle(mask):
    flat = mask.ravel(order="F")  # COCO runs column by column
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    counts = np.diff(np.concatenate([[0], changes, [flat.size]])).tolist()
    if flat[0]:
        counts = [0] + counts
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": [int(c) for c in counts]}


def write(folder):
    """Write coins.png, camera.png and instances.json into `folder`; return (coco dict, {annotation id: mask})."""
    Image.fromarray(np.stack([data.coins()] * 3, axis=-1)).save(folder / "coins.png")
    Image.fromarray(np.stack([data.camera()] * 3, axis=-1)).save(folder / "camera.png")
    coins = coin_masks()
    annotations, truth = [], {}
    forms = [lambda m: polygon_of(m), compressed_rle, uncompressed_rle]
    for i, mask in enumerate(coins):
        aid = 100 + i
        annotations.append({"id": aid, "image_id": 1, "category_id": 7, "iscrowd": 0,
                            "segmentation": forms[i % 3](mask), "area": int(mask.sum())})
        truth[aid] = mask
    man = cameraman_mask()
    annotations.append({"id": 500, "image_id": 2, "category_id": 3, "iscrowd": 0, "segmentation": polygon_of(man),
                        "description": "a man behind a camera on a tripod"})
    truth[500] = man
    coco = {
        "info": {"description": "skimage-photos"},
        "images": [{"id": 1, "file_name": "coins.png", "width": 384, "height": 303},
                   {"id": 2, "file_name": "camera.png", "width": 512, "height": 512}],
        "categories": [{"id": 7, "name": "coin", "supercategory": "money"}, {"id": 3, "name": "man"}],
        "annotations": annotations,
    }
    (folder / "instances.json").write_text(json.dumps(coco))
    return coco, truth
