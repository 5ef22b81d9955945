"""Reference rows of the stage table: what the stages' figures mean, on the same held-out rows and metrics.

  vae_reconstruction      the ground truth through the frozen VAE: the ceiling of any flow over its latent
  mean_shape              one shape whatever the image: the voxels most often occupied in training, as
                          many as a training shape has on average
  category_mean_shape     the same per category (read off each row's shape name): a model that knows the
                          category and nothing else about the image; none where training lacks a category
  nearest_training_shape  an oracle: the training shape of highest 32^3 IoU with the truth (retrieval that
                          knows the answer); novel instances differ from it in their proportions
  ground_truth            the truth against itself: 1 or 0 everywhere but f1@0.01_dense, whose value here
                          is that metric's sampling ceiling at dense_points (see trainer.metrics.shape)

floor = the better of mean_shape and category_mean_shape, per metric; ceiling = vae_reconstruction;
a stage's share of the gap = (stage - floor) / (ceiling - floor): 1 at the ceiling, 0 at the floor,
negative below it (for either direction of metric); NaN where the ceiling is no better than the floor.
"""
from __future__ import annotations

import numpy as np
import torch

from .data.arrays import unique_rows
from .data.pack import unpack_occ
from .data.shapes import shape_category
from .evaluate import HIGHER_IS_BETTER, score_sample, standard_error


def summarize(rows: list[dict], keys) -> dict:
    """Each metric's mean over the rows that have it and its standard error as `<metric>_se` (NaN below 2 rows)."""
    out = {}
    for k in keys:
        x = np.array([r[k] for r in rows if k in r], dtype=np.float64)
        if len(x):
            se = standard_error(x)
            out[k], out[f"{k}_se"] = float(x.mean()), float("nan") if se is None else se
    return out


def row_categories(dataset, names: list[str] | None) -> list[str] | None:
    """The category of every row of a cache whose library names are `names` (None without them)."""
    if names is None or "shape_id" not in dataset.arrays:
        return None
    return [shape_category(names[int(i)]) for i in np.asarray(dataset.arrays["shape_id"])]


def missing_categories(heldout_categories: list[str], train_categories: list[str]) -> list[str]:
    """The held-out categories that no training row has, sorted: those without a per-category mean shape."""
    return sorted(set(heldout_categories) - set(train_categories))


def top_volume(freq: np.ndarray) -> np.ndarray:
    """The voxels most often occupied, as many as the mean occupied volume (sum of the frequencies)."""
    volume = int(round(freq.sum()))
    out = np.zeros(freq.size, np.float32)
    out[np.argsort(-freq.ravel(), kind="stable")[:volume]] = 1.0
    return out.reshape(freq.shape)


def mean_shapes(train, categories: list[str] | None = None) -> tuple[np.ndarray, dict]:
    """(the mean shape over all training rows, {category: its mean shape}) as (G, G, G) {0, 1} grids."""
    total, by_cat, count = 0.0, {}, {}
    for i in range(0, len(train), 64):
        o = train.batch(list(range(i, min(len(train), i + 64))))["occ"].numpy().astype(np.float64)
        total = total + o.sum(0)
        for j, occ in enumerate(o):
            c = categories[i + j] if categories else None
            if c is not None:
                by_cat[c] = by_cat.get(c, 0.0) + occ
                count[c] = count.get(c, 0) + 1
    return top_volume(total / len(train)), {c: top_volume(by_cat[c] / count[c]) for c in by_cat}


def nearest_shapes(train, occ: np.ndarray) -> np.ndarray:
    """(n, G, G, G): for each truth in occ, the distinct training occupancy of highest voxel IoU with it."""
    reps, _ = unique_rows(train.arrays["occ"])
    library = unpack_occ(np.asarray(train.arrays["occ"][reps]), train.grid).reshape(len(reps), -1).astype(bool)
    truth = np.asarray(occ).reshape(len(occ), -1).astype(bool)
    inter = truth.astype(np.float32) @ library.T.astype(np.float32)                 # (n, U)
    union = truth.sum(1)[:, None] + library.sum(1)[None] - inter
    best = np.argmax(inter / np.maximum(union, 1), axis=1)
    return library[best].reshape(occ.shape).astype(np.float32)


def reference_rows(model, heldout, train, n: int, points: int = 10000, dense_points: int = 0,
                   heldout_categories: list[str] | None = None, train_categories: list[str] | None = None,
                   keys=None, return_rows: bool = False):
    """The reference rows (see the module docstring) on the first n held-out rows, summarised like a stage.

    The per-category mean needs both category lists and a training mean of every held-out category: on
    rows of a category no training row has (a novel-category split) it cannot exist, and that reference row
    is left out rather than faked with the overall mean (see `missing_categories`). With return_rows, also return
    {name: per-row metrics}.
    """
    n = min(n, len(heldout))
    occ = heldout.batch(list(range(n)))["occ"]
    with torch.no_grad():
        rec = model.vae.from_latent(model.vae.to_latent(occ)).numpy()
    overall, per_cat = mean_shapes(train, train_categories if heldout_categories else None)
    preds = {"vae_reconstruction": list(rec), "mean_shape": [overall] * n,
             "nearest_training_shape": list(nearest_shapes(train, occ.numpy()))}
    if heldout_categories and train_categories and not missing_categories(heldout_categories[:n], train_categories):
        preds["category_mean_shape"] = [per_cat[heldout_categories[i]] for i in range(n)]
    if dense_points:
        preds["ground_truth"] = list(occ.numpy())
    rows = {name: [score_sample(p, occ[i].numpy(), None, None, False, points, 512, True, dense_points=dense_points)
                   for i, p in enumerate(pred)] for name, pred in preds.items()}
    keys = keys or sorted({k for r in rows.values() for row in r for k in row})
    out = {name: summarize(r, keys) for name, r in rows.items()}
    return (out, rows) if return_rows else out


def floor_to_ceiling(stage: dict, refs: dict, keys=("viou", "chamfer")) -> dict:
    """{metric: share of the floor-to-ceiling gap a stage's means close} (see the module docstring)."""
    out = {}
    for k in keys:
        floors = [refs[r][k] for r in ("mean_shape", "category_mean_shape") if r in refs and k in refs[r]]
        if not floors or k not in stage or k not in refs.get("vae_reconstruction", {}):
            continue
        floor = max(floors) if HIGHER_IS_BETTER[k] else min(floors)
        gap = refs["vae_reconstruction"][k] - floor
        # A ceiling no better than the floor (an undertrained VAE, as in a smoke run) leaves no gap to close:
        # a ratio of two negative numbers there would read as a stage above its ceiling.
        closes = gap > 0 if HIGHER_IS_BETTER[k] else gap < 0
        out[k] = float((stage[k] - floor) / gap) if closes else float("nan")
    return out
