"""Reference rows of the stage table: what the stages' figures mean, on the same held-out rows and metrics.

  vae_reconstruction      the ground truth through the frozen VAE: the ceiling of any flow over its latent
  mean_shape              one shape whatever the image: the voxels most often occupied in training, as
                          many as a training shape has on average
  category_mean_shape     the same per category (read off each row's shape name): a model that knows the
                          category and nothing else about the image; none where training lacks a category
  category_random_instance  a distinct training shape of the row's category drawn at random, once per draw
                          (seeded by (draw, row)): what a *sampler* that knows the category and nothing else
                          scores. The mean shapes are point estimates; a stage row scores one sample of a
                          generative model, so this row, not the category mean, is the like-for-like floor of
                          a single sample (the category mean is that of a point estimate: see
                          trainer.evaluate.evaluate_consensus). None where training lacks a category
  nearest_training_shape  an oracle: the training shape of highest 32^3 IoU with the truth (retrieval that
                          knows the answer); novel instances differ from it in their proportions
  ground_truth            the truth against itself: 1 or 0 everywhere but f1@0.01_dense, whose value here
                          is that metric's sampling ceiling at dense_points (see trainer.metrics.shape)

floor = the better of mean_shape and category_mean_shape, per metric; ceiling = vae_reconstruction;
a stage's share of the gap = (stage - floor) / (ceiling - floor): 1 at the ceiling, 0 at the floor,
negative below it (for either direction of metric); NaN where the ceiling is no better than the floor.
The random instance is not part of that floor: it is a single sample's (`floor_to_ceiling(...,
floors=SAMPLER_FLOORS)`), while the mean shapes are the floor of a point estimate such as the consensus
of K samples.
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


def random_instances(train, train_categories: list[str], heldout_categories: list[str], n: int,
                     draws=(0, 1)) -> list[list[int]]:
    """[draw][row]: for each of the first n held-out rows, the index of a training row whose occupancy is a
    distinct training shape of the row's category, drawn uniformly among that category's distinct shapes.

    Distinct shapes (`unique_rows` of the packed occupancies, as `nearest_shapes` reads them), not rows, so a
    shape that appears in many composites is not drawn more often. The draw of (draw d, row i) is fixed by
    the seed (d, i) alone: the same whatever n or the other draws are. Raises KeyError for a row whose
    category no training row has (see `missing_categories`).
    """
    reps, _ = unique_rows(train.arrays["occ"])
    pools: dict[str, list[int]] = {}
    for r in reps.tolist():
        pools.setdefault(train_categories[r], []).append(r)
    out = []
    for d in draws:
        picks = []
        for i in range(n):
            pool = pools[heldout_categories[i]]
            picks.append(pool[int(np.random.default_rng([int(d), i]).integers(len(pool)))])
        out.append(picks)
    return out


def training_occupancies(train, rows: list[int]) -> np.ndarray:
    """(len(rows), G, G, G) float32 {0, 1}: the training occupancies of the given row indices."""
    return unpack_occ(np.asarray(train.arrays["occ"][np.asarray(rows, np.int64)]), train.grid).astype(np.float32)


def mean_over_draws(rows: list[list[dict]]) -> list[dict]:
    """Per-row metrics averaged over the draws [draw][row] that have each metric (draws replicate a row)."""
    out = []
    for i in range(len(rows[0])):
        keys = sorted({k for d in rows for k in d[i]})
        out.append({k: float(np.mean([d[i][k] for d in rows if k in d[i]])) for k in keys})
    return out


def reference_rows(model, heldout, train, n: int, points: int = 10000, dense_points: int = 0,
                   heldout_categories: list[str] | None = None, train_categories: list[str] | None = None,
                   keys=None, return_rows: bool = False, draws=(0, 1), only=None):
    """The reference rows (see the module docstring) on the first n held-out rows, summarised like a stage.

    The per-category rows need both category lists and a training shape of every held-out category: on
    rows of a category no training row has (a novel-category split) they cannot exist, and they are left
    out rather than faked with the overall mean (see `missing_categories`). `category_random_instance` is
    scored once per draw in `draws` (f1@0.01_dense on the first only, as the stage table's seeds) and each
    row averaged over its draws before the mean and standard error. `only`: the names of the rows to
    score (all when None). With return_rows, also return {name: per-row metrics}.
    """
    n = min(n, len(heldout))
    want = lambda name: only is None or name in only
    occ = heldout.batch(list(range(n)))["occ"]
    preds = {}
    if want("vae_reconstruction"):
        with torch.no_grad():
            preds["vae_reconstruction"] = list(model.vae.from_latent(model.vae.to_latent(occ)).numpy())
    known = bool(heldout_categories and train_categories and
                 not missing_categories(heldout_categories[:n], train_categories))
    if want("mean_shape") or (known and want("category_mean_shape")):
        overall, per_cat = mean_shapes(train, train_categories if heldout_categories else None)
        if want("mean_shape"):
            preds["mean_shape"] = [overall] * n
        if known and want("category_mean_shape"):
            preds["category_mean_shape"] = [per_cat[heldout_categories[i]] for i in range(n)]
    if want("nearest_training_shape"):
        preds["nearest_training_shape"] = list(nearest_shapes(train, occ.numpy()))
    if dense_points and want("ground_truth"):
        preds["ground_truth"] = list(occ.numpy())
    score = lambda p, i, dense, seed=0: score_sample(p, occ[i].numpy(), None, None, False, points, 512, True,
                                                     seed=seed, dense_points=dense)
    rows = {name: [score(p, i, dense_points) for i, p in enumerate(pred)] for name, pred in preds.items()}
    if known and want("category_random_instance") and draws:
        # draw d is scored with seed d, as the stage table scores its sample of seed s with seed s
        picks = random_instances(train, train_categories, heldout_categories, n, draws)
        rows["category_random_instance"] = mean_over_draws(
            [[score(p, i, dense_points if j == 0 else 0, int(d)) for i, p in enumerate(training_occupancies(train, rs))]
             for j, (d, rs) in enumerate(zip(draws, picks))])
    keys = keys or sorted({k for r in rows.values() for row in r for k in row})
    out = {name: summarize(r, keys) for name, r in rows.items()}
    return (out, rows) if return_rows else out


FLOORS = ("mean_shape", "category_mean_shape")
SAMPLER_FLOORS = ("category_random_instance",)


def floor_to_ceiling(stage: dict, refs: dict, keys=("viou", "chamfer"), floors=FLOORS) -> dict:
    """{metric: share of the floor-to-ceiling gap a stage's means close} (see the module docstring).

    `floors`: the reference rows whose best is the floor; SAMPLER_FLOORS reads a single sample against
    the category's random instance instead of its mean shape (no entry where that row is missing)."""
    out = {}
    for k in keys:
        floors_k = [refs[r][k] for r in floors if r in refs and k in refs[r]]
        if not floors_k or k not in stage or k not in refs.get("vae_reconstruction", {}):
            continue
        floor = max(floors_k) if HIGHER_IS_BETTER[k] else min(floors_k)
        gap = refs["vae_reconstruction"][k] - floor
        # A ceiling no better than the floor (an undertrained VAE, as in a smoke run) leaves no gap to close:
        # a ratio of two negative numbers there would read as a stage above its ceiling.
        closes = gap > 0 if HIGHER_IS_BETTER[k] else gap < 0
        out[k] = float((stage[k] - floor) / gap) if closes else float("nan")
    return out
