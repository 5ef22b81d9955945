"""Failure features: the same under the changes that keep an object what it is, apart for other objects."""

import numpy as np
import trimesh
from skimage import data

from model_suite import features


def _box_mask(image, x0, y0, x1, y1):
    mask = np.zeros(image.shape[:2], bool)
    mask[y0:y1, x0:x1] = True
    return mask


def test_image_features_are_unit_length_and_see_the_region_not_its_place():
    image = data.astronaut()
    a = features.image_features(image, _box_mask(image, 150, 50, 350, 300))
    assert a.shape == (features.IMAGE_DIM,) and np.linalg.norm(a) == np.float32(1) or abs(np.linalg.norm(a) - 1) < 1e-5
    moved = np.roll(image, (40, 30), axis=(0, 1))
    b = features.image_features(moved, _box_mask(image, 180, 90, 380, 340))  # the same pixels, elsewhere
    assert a @ b > 0.999
    coffee = data.coffee()
    c = features.image_features(coffee, _box_mask(coffee, 100, 100, 300, 300))
    assert a @ c < a @ b - 0.1
    assert not features.image_features(image, np.zeros(image.shape[:2], bool)).any()


def test_shape_features_are_the_same_under_rotation_and_scale_and_differ_between_shapes():
    box = trimesh.creation.box((1, 0.6, 0.4))
    turned = box.copy()
    turned.apply_transform(trimesh.transformations.rotation_matrix(1.1, [0.3, 1, 0.2]))
    turned.apply_scale(2.5)
    sphere = trimesh.creation.icosphere(subdivisions=3)
    a = features.shape_features(box.vertices, box.faces)
    b = features.shape_features(turned.vertices, turned.faces, seed=7)
    c = features.shape_features(sphere.vertices, sphere.faces)
    assert a.shape == (features.SHAPE_DIM,)
    assert 1 - a @ b < 0.01
    assert 1 - a @ c > 3 * (1 - a @ b)
