"""Known answers of the reference rows: floors, the oracle and the floor-to-ceiling share."""
import math

import numpy as np
import pytest
import torch

from trainer.data.arrays import ArrayDataset
from trainer.data.pack import pack_occ
from trainer.data.shapes import shape_category
from trainer.references import floor_to_ceiling, mean_shapes, nearest_shapes, row_categories


def box(lo, hi, g=8):
    occ = np.zeros((g, g, g), bool)
    occ[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] = True
    return occ


def dataset(occs, shape_ids=None):
    arrays = {"occ": pack_occ(np.stack(occs)), "views": np.zeros((len(occs), 2, 4, 4, 4), np.uint8)}
    if shape_ids is not None:
        arrays["shape_id"] = np.asarray(shape_ids)
    return ArrayDataset(arrays, 8, 4, "test")


def test_categories_come_from_the_assembly_kind_or_the_file_name():
    assert shape_category("assembly-0") == "table" and shape_category("assembly-1002") == "chair"
    assert shape_category("airplane") == "airplane"
    data = dataset([box((0, 0, 0), (2, 2, 2))] * 2, shape_ids=[1, 0])
    assert row_categories(data, ["assembly-7", "assembly-8"]) == ["chair", "table"]
    assert row_categories(dataset([box((0, 0, 0), (2, 2, 2))]), ["x"]) is None   # no shape ids: no categories


def test_the_mean_shape_keeps_the_mean_volume_of_the_most_frequent_voxels():
    tall, flat = box((0, 0, 0), (2, 8, 2)), box((0, 0, 0), (8, 2, 2))             # 32 voxels each, 4 shared
    train = dataset([tall, tall, tall, flat], shape_ids=[0, 0, 0, 1])
    overall, per_cat = mean_shapes(train, ["lamp", "lamp", "lamp", "table"])
    assert overall.sum() == 32 and overall[tall].all()                           # the majority's voxels
    assert np.array_equal(per_cat["table"], flat.astype(np.float32))
    assert np.array_equal(per_cat["lamp"], tall.astype(np.float32))


def test_the_nearest_training_shape_is_the_one_of_highest_iou():
    a, b = box((0, 0, 0), (4, 4, 4)), box((4, 4, 4), (8, 8, 8))
    train = dataset([a, b, a])
    truth = np.stack([box((0, 0, 0), (4, 4, 5)), box((3, 4, 4), (8, 8, 8))]).astype(np.float32)
    near = nearest_shapes(train, truth)
    assert np.array_equal(near[0], a) and np.array_equal(near[1], b)


def test_floor_to_ceiling_share_in_both_directions():
    refs = {"mean_shape": {"viou": 0.2, "chamfer": 0.4}, "category_mean_shape": {"viou": 0.3, "chamfer": 0.5},
            "vae_reconstruction": {"viou": 0.8, "chamfer": 0.1}}
    # floor = the better one: vIoU 0.3 (higher), Chamfer 0.4 (lower)
    assert floor_to_ceiling({"viou": 0.55, "chamfer": 0.25}, refs) == {"viou": pytest.approx(0.5), "chamfer": pytest.approx(0.5)}
    assert floor_to_ceiling({"viou": 0.3, "chamfer": 0.1}, refs) == {"viou": pytest.approx(0.0), "chamfer": pytest.approx(1.0)}
    assert floor_to_ceiling({"viou": 0.2}, refs)["viou"] < 0                      # below the floor


def test_no_share_of_a_gap_when_the_ceiling_is_below_the_floor():
    # an undertrained VAE: a stage below both would otherwise score (0.15 - 0.3) / (0.25 - 0.3) = 3
    refs = {"mean_shape": {"viou": 0.3, "chamfer": 0.3}, "vae_reconstruction": {"viou": 0.25, "chamfer": 0.4}}
    share = floor_to_ceiling({"viou": 0.15, "chamfer": 0.5}, refs)
    assert math.isnan(share["viou"]) and math.isnan(share["chamfer"])


def test_reference_rows_of_a_checkpoint(tiny_ckpt, tiny_cache):
    from trainer.checkpoints import load_checkpoint
    from trainer.data.cache import shape_names
    from trainer.data.loader import open_dataset
    from trainer.references import reference_rows
    model, _ = load_checkpoint(tiny_ckpt)
    data = open_dataset(str(tiny_cache), 16, 32, progress=False)
    cats = row_categories(data, shape_names(tiny_cache))
    rows = reference_rows(model, data, data, n=3, points=1000, dense_points=2000, heldout_categories=cats,
                          train_categories=cats)
    assert set(rows) == {"vae_reconstruction", "mean_shape", "category_mean_shape", "nearest_training_shape",
                         "ground_truth", "category_random_instance"}
    # drawn from the training set that holds each truth: a random instance of the category is at best the truth
    assert 0 < rows["category_random_instance"]["viou"] <= 1.0 and "f1@0.01_dense" in rows["category_random_instance"]
    # the oracle finds each truth itself (the training set holds it), and the truth scores perfectly but for the
    # dense F1, which is its sampling ceiling
    for name in ("nearest_training_shape", "ground_truth"):
        assert rows[name]["viou"] == 1.0 and rows[name]["f1@0.05"] == 1.0
    assert 0 < rows["ground_truth"]["f1@0.01_dense"] < 1
    assert torch.is_tensor(data.batch([0])["occ"])


def test_no_per_category_mean_shape_for_a_category_training_lacks(tiny_ckpt, tiny_cache):
    from trainer.checkpoints import load_checkpoint
    from trainer.data.cache import shape_names
    from trainer.data.loader import open_dataset
    from trainer.references import missing_categories, reference_rows
    model, _ = load_checkpoint(tiny_ckpt)
    data = open_dataset(str(tiny_cache), 16, 32, progress=False)
    cats = row_categories(data, shape_names(tiny_cache))
    novel = ["vase"] + cats[1:]                       # one row of a category no training row has
    assert missing_categories(novel[:3], cats) == ["vase"]
    rows = reference_rows(model, data, data, n=3, points=1000, heldout_categories=novel, train_categories=cats)
    assert "category_mean_shape" not in rows and {"mean_shape", "nearest_training_shape"} <= set(rows)
    assert "category_random_instance" not in rows
    # only the first n rows count: with their categories all known, the floor is there
    later = cats[:3] + ["vase"]
    assert "category_mean_shape" in reference_rows(model, data, data, n=3, points=1000, heldout_categories=later,
                                                   train_categories=cats)
