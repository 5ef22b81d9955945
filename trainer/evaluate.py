"""`evaluate`: sample a checkpoint on a held-out set, score it with the published metrics, and
compare it with another checkpoint. The JSON report carries what a promotion decision needs:
both checkpoints' hashes and stages, mean metrics, deltas, which metrics improved, and the
share of samples on which the candidate beats the baseline (by Chamfer).

An empty prediction scores F1 = vIoU = 0 and Chamfer = EMD = 2 sqrt(3), the largest distance
inside [-1, 1]^3; layout metrics are computed only where the data has a full pose.

Does the model use its image? `image_use` samples the same rows from the same noise three ways:
with each row's own image, with another row's image (row i gets row (i + n/2) mod n's views: the
*shuffled-image gap* is the paired difference, per metric), and with the learned null condition
(the unconditional branch CFG dropout trains: the floor of a sampler that ignores its image).
A model that ignores its image has a gap of 0; the goal is >= 0.10 vIoU.

A point estimate from the model: `evaluate_consensus` scores, per row, the consensus of K samples
(`consensus`), a shape the model commits to rather than one draw from it, the like-for-like
comparison for the mean-shape floors, which are point estimates too (trainer.references).
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .checkpoints import load_checkpoint, read_manifest, resolve
from .data.loader import open_dataset
from .data.views import views_to_tensor
from .distributed import pick_device
from .metrics import DENSE_F1, layout_metrics, occupancy_mesh, sample_points, shape_metrics
from .sampling import at_temperature, sample_views

HIGHER_IS_BETTER = {"f1@0.01": True, "f1@0.05": True, DENSE_F1: True, "viou": True, "chamfer": False, "emd": False,
                    "box_iou": True, "rot_err_deg": False, "add_s": False, "add_s@0.1": True}
WORST = {"f1@0.01": 0.0, "f1@0.05": 0.0, "viou": 0.0, "chamfer": 2 * 3 ** 0.5, "emd": 2 * 3 ** 0.5}
CONDITIONS = ("image", "shuffled", "none", "no_category")


def score_sample(probs: np.ndarray, gt: np.ndarray, pose, gt_pose, with_layout: bool, points: int,
                 emd_points: int, icp: bool, seed: int = 0, dense_points: int = 0) -> dict:
    """Metrics of one predicted occupancy (+ pose) against the ground truth occupancy (+ pose)."""
    pm, gm = occupancy_mesh(probs), occupancy_mesh(gt)
    if gm is None:
        raise ValueError("a ground-truth occupancy is empty; check the data cache")
    if pm is None:
        return dict(WORST, empty=1.0, **({DENSE_F1: 0.0} if dense_points else {}))
    shape, T = shape_metrics(pm, gm, points, emd_points, icp, seed=seed, return_transform=True, dense_points=dense_points)
    out = dict(shape, empty=0.0)
    if with_layout:
        out.update(layout_metrics(sample_points(pm, 2048, seed), sample_points(gm, 2048, seed), pose, gt_pose, T[:3, :3]))
    return out


def row_name(dataset, i: int) -> str:
    """Where row i of a dataset comes from, for an error message (an export's rows are samples.jsonl's lines)."""
    snapshot = str(getattr(dataset, "snapshot", ""))
    if snapshot.startswith("export:") and snapshot.endswith(":samples"):
        return f"row {i} of {snapshot} (line {i + 1} of samples.jsonl)"
    return f"row {i} of {snapshot or 'the dataset'}"


def evaluate_remembered(model, checkpoint, dataset, data, n: int, **kw) -> dict:
    """`evaluate_model` of the model just loaded from `checkpoint`, remembered in its folder under `evals/`.

    The key is everything the result depends on: the weights' hash, the held-out set (its folder
    and length), n and every sampling and scoring option. The noise depends only on (seed, row),
    so a checkpoint that `compare` scored as the new one, and again as the deployed one an
    iteration later, and once more in a cascade table, is sampled once. A folder that cannot be
    written (a read-only checkpoint store) only loses the memory, never the result.
    """
    folder = resolve(checkpoint)
    options = {k: v for k, v in kw.items() if k != "progress"}
    key = json.dumps({"weights": read_manifest(folder)["hash"], "data": str(Path(data).resolve()),
                      "rows": len(dataset), "n": n, **options}, sort_keys=True)
    path = folder / "evals" / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"
    try:
        stored = json.loads(path.read_text())
        if stored.get("key") == key:
            return stored["result"]
    except (OSError, ValueError, KeyError):
        pass
    result = evaluate_model(model, dataset, n, **kw)
    try:
        path.parent.mkdir(exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps({"key": key, "result": result}))
        partial.replace(path)
    except OSError:
        pass
    return result


def dataset_category_ids(model, dataset, idx):
    """(B,) category indices of some rows for a model that conditions on the category (None otherwise): each
    row's own category, from the source's shape names or an export's Stage 1 labels (unknown without one)."""
    names = getattr(dataset, "row_categories", None)
    return model.category_ids([names[i] if names else None for i in idx])


def shuffled_rows(n: int) -> list[int]:
    """The row whose image row i is shown in the shuffled-image test: (i + n // 2) mod n, never i itself."""
    return [(i + n // 2) % n for i in range(n)]


def evaluate_model(model, dataset, n: int, mode: str = "flow", steps: int | None = None, points: int = 10000,
                   emd_points: int = 512, icp: bool = True, seed: int = 0, batch_size: int = 16,
                   progress: bool = True, condition: str = "image", dense_points: int = 0) -> dict:
    """Mean metrics of `model` on the first n rows of `dataset`, plus per-sample rows and timing.

    condition: 'image' (each row's own views), 'shuffled' (another row's views, `shuffled_rows`),
    'none' (the null condition: the unconditional sampler) or 'no_category' (each row's own views, the
    category given as unknown; only for a model that conditions on the category). The noise depends
    only on (seed, row), so all four score the same rows from the same noise. A model that conditions
    on the category is given each row's own category in the first two (the null condition drops it
    with the image), so the shuffled-image gap measures what the image adds beyond the category, and
    'no_category' what the category adds beyond the image.
    """
    if condition not in CONDITIONS:
        raise ValueError(f"unknown condition {condition!r}: use one of {', '.join(CONDITIONS)}")
    if condition == "no_category" and not model.cfg.category_condition:
        raise ValueError("this checkpoint does not condition on the category: there is no category to withhold")
    n = min(n, len(dataset))
    shown = shuffled_rows(n) if condition == "shuffled" else list(range(n))
    rows, sample_sec = [], 0.0
    for start in tqdm(range(0, n, batch_size), desc=f"evaluate ({mode}, {condition})", disable=not progress):
        idx = list(range(start, min(n, start + batch_size)))
        batch = dataset.batch(idx)
        views = batch["views"] if condition == "image" else dataset.batch([shown[i] for i in idx])["views"]
        t0 = time.perf_counter()
        probs, R, t, s, _, _ = sample_views(model, views_to_tensor(views), seed + start, mode=mode, steps=steps,
                                            unconditional=condition == "none",
                                            category=(model.category_ids([None] * len(idx))
                                                      if condition == "no_category" else
                                                      dataset_category_ids(model, dataset, idx)))
        sample_sec += time.perf_counter() - t0
        for b in range(len(idx)):
            full_pose = bool(batch["layout_mask"][b].all())
            try:
                rows.append(score_sample(
                    probs[b].cpu().numpy(), batch["occ"][b].numpy(),
                    (R[b].cpu().numpy(), t[b].cpu().numpy(), float(s[b])),
                    (batch["rotation"][b].numpy(), batch["translation"][b].numpy(), float(batch["scale"][b])),
                    full_pose, points, emd_points, icp, seed, dense_points))
            except ValueError as e:
                raise ValueError(f"cannot score {row_name(dataset, idx[b])}: {e}") from e
    keys = sorted({k for r in rows for k in r})
    means = {k: float(np.mean([r[k] for r in rows if k in r])) for k in keys}
    return {"metrics": means, "metrics_se": {k: standard_error([r[k] for r in rows if k in r]) for k in keys},
            "rows": rows, "n": n, "sample_sec_per_item": sample_sec / max(n, 1)}


def consensus(probs: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """(K, G, G, G) occupancy probabilities of K samples -> (G, G, G) float32: their consensus.

    Which voxels: the rule of the mean-shape floors (`trainer.references.top_volume`) applied to the
    model's samples instead of the category's training shapes, i.e. the voxels occupied (>= threshold) in
    most samples, as many as the samples' mean occupied volume. Chosen over a majority vote (voxels in at
    least K/2 samples) because the floors it is read against are built this way, so the two rows differ in
    the distribution only, not in the estimator; and a vote shrinks the shape where samples disagree on
    thin parts. Ties among voxels of equal vote (many with K = 4) go to the higher mean probability, then
    to the lower index.
    Returned as probabilities whose level set at `threshold` is exactly those voxels: the samples' mean
    probability, raised to the threshold on chosen voxels and kept below it elsewhere. A stage row is
    scored on its probabilities (the marching-cubes surface interpolates them), so the consensus is too:
    K identical samples give that sample back (exactly for K = 1, else to the float rounding of their mean),
    and an empty mean volume an empty grid.
    """
    probs = np.asarray(probs, np.float32)
    votes, mean = (probs >= threshold).mean(0).ravel(), probs.mean(0).ravel()
    volume = int(round(float(votes.sum())))
    chosen = np.zeros(votes.size, bool)
    chosen[np.lexsort((-mean, -votes))[:volume]] = True       # the last key sorts first: votes, then mean
    below = np.nextafter(np.float32(threshold), np.float32(0))
    out = np.where(chosen, np.maximum(mean, threshold), np.minimum(mean, below)).astype(np.float32)
    return out.reshape(probs.shape[1:])


def consensus_samples(model, views, k: int, seed: int, mode: str = "flow", steps: int | None = None,
                      category=None):
    """(B, K, G, G, G) occupancy probabilities: K samples of each of B rows, one batched call per sample.

    Sample j of the batch is `sample_views(..., seed + j)`, so with `evaluate_model`'s batches (seed + start)
    sample j of a row is exactly that row's stage-table sample of seed + j: the consensus of seeds
    (0, ..., K-1) contains the table's samples of seeds 0 and 1. One call per seed rather than one call
    of all K x B samples: on 2 CPU cores 16 rows x 4 seeds in one call took 26 s against 4.5 s for one
    seed's 16 rows (measured interleaved, cpu preset), so the larger batch is slower per sample there.
    """
    from .sampling import sample_views
    probs = [sample_views(model, views, seed + j, mode=mode, steps=steps, category=category)[0].float().cpu().numpy()
             for j in range(k)]
    return np.stack(probs, axis=1)


def evaluate_consensus(model, dataset, n: int, k: int = 4, mode: str = "flow", steps: int | None = None,
                       points: int = 10000, emd_points: int = 512, icp: bool = True, seed: int = 0,
                       batch_size: int = 16, progress: bool = True, dense_points: int = 0) -> dict:
    """Mean metrics of the consensus of K samples (`consensus`) per row on the first n rows, like `evaluate_model`.

    Sample j of row i is the one `evaluate_model(seed=seed + j)` draws for it (same batches), so the K
    samples are the stage table's seeds and more. Shape metrics only (no pose). Sampling is batched over
    rows (K calls per batch); scoring, the expensive part, runs once per row. Also returns the timings.
    """
    n = min(n, len(dataset))
    threshold = getattr(model, "sample_config", None)
    threshold = getattr(threshold, "threshold", 0.5)
    rows, sample_sec, score_sec = [], 0.0, 0.0
    for start in tqdm(range(0, n, batch_size), desc=f"consensus of {k} ({mode})", disable=not progress):
        idx = list(range(start, min(n, start + batch_size)))
        batch = dataset.batch(idx)
        t0 = time.perf_counter()
        probs = consensus_samples(model, views_to_tensor(batch["views"]), k, seed + start, mode, steps,
                                  dataset_category_ids(model, dataset, idx))
        t1 = time.perf_counter()
        for b in range(len(idx)):
            try:
                rows.append(score_sample(consensus(probs[b], threshold), batch["occ"][b].numpy(), None, None, False,
                                         points, emd_points, icp, seed, dense_points))
            except ValueError as e:
                raise ValueError(f"cannot score {row_name(dataset, idx[b])}: {e}") from e
        sample_sec, score_sec = sample_sec + t1 - t0, score_sec + time.perf_counter() - t1
    keys = sorted({key for r in rows for key in r})
    return {"metrics": {key: float(np.mean([r[key] for r in rows if key in r])) for key in keys},
            "metrics_se": {key: standard_error([r[key] for r in rows if key in r]) for key in keys},
            "rows": rows, "n": n, "k": k, "seeds": list(range(seed, seed + k)),
            "sample_sec_per_item": sample_sec / max(n, 1), "score_sec_per_item": score_sec / max(n, 1)}


def paired(rows_a: list[list[dict]], rows_b: list[list[dict]]) -> tuple[dict, dict]:
    """(delta, delta_se) per metric of two row lists [seed][row] scored on the same rows and noise.

    Seeds are replicates of a row, not new rows: d_i = mean_s (a_is - b_is), delta = mean_i d_i,
    delta_se = std_i(d_i) / sqrt(n) (the rows' difficulty cancels in each d_is). A metric only some
    seeds have (F1@0.01 on 100k points is scored on the first) is averaged over those; a row no seed
    scored is left out, and a metric no row has is not reported.
    """
    delta, delta_se = {}, {}
    for k in HIGHER_IS_BETTER:
        per_row = []
        for i in range(len(rows_a[0])):
            d = [ra[i][k] - rb[i][k] for ra, rb in zip(rows_a, rows_b) if k in ra[i] and k in rb[i]]
            if d:
                per_row.append(float(np.mean(d)))
        if per_row:
            delta[k], delta_se[k] = float(np.mean(per_row)), standard_error(per_row)
    return delta, delta_se


def image_use(model, dataset, n: int, seeds=(0, 1), own_rows: list | None = None, **kw) -> dict:
    """The shuffled-image gap and the unconditional sampler on the first n rows, over `seeds`.

    Returns {'gap': own image - shuffled image, 'gap_se', 'over_unconditional': own image - null
    condition, its '_se' (paired per metric: positive vIoU = the image helps), the three
    conditions' mean metrics, and the rows [seed][row] of each}. `own_rows` [seed][row] are the
    own-image rows when already sampled with these seeds and settings.
    """
    rows = {c: [evaluate_model(model, dataset, n, seed=s, condition=c, **kw)["rows"] for s in seeds]
            for c in ("image", "shuffled", "none") if not (c == "image" and own_rows is not None)}
    if own_rows is not None:
        rows["image"] = [r[:min(n, len(dataset))] for r in own_rows]
    gap, gap_se = paired(rows["image"], rows["shuffled"])
    over, over_se = paired(rows["image"], rows["none"])
    means = {c: {k: float(np.mean([r[k] for seed_rows in rs for r in seed_rows if k in r]))
                 for k in sorted({k for seed_rows in rs for r in seed_rows for k in r})} for c, rs in rows.items()}
    return {"n": min(n, len(dataset)), "seeds": list(seeds), "gap": gap, "gap_se": gap_se,
            "over_unconditional": over, "over_unconditional_se": over_se, "metrics": means, "rows": rows}


def category_use(model, dataset, n: int, seeds=(0, 1), own_rows: list | None = None, **kw) -> dict:
    """What the category adds beyond the image, for a model that conditions on it: each of the first n rows
    sampled given its own category and given "unknown" (`condition='no_category'`), same image and noise,
    over `seeds`. Returns {'gap': given - unknown, 'gap_se' (paired per metric: positive vIoU = the category
    helps), the two conditions' mean metrics, 'named': how many rows the model reads a category for, and the
    rows [seed][row] of each}. A row it reads as unknown (no category, or a name outside a learned vocabulary)
    scores alike in both. `own_rows` [seed][row]: the given-category rows when already sampled with these seeds
    and settings."""
    n = min(n, len(dataset))
    rows = {"no_category": [evaluate_model(model, dataset, n, seed=s, condition="no_category", **kw)["rows"]
                            for s in seeds]}
    rows["category"] = ([r[:n] for r in own_rows] if own_rows is not None else
                        [evaluate_model(model, dataset, n, seed=s, **kw)["rows"] for s in seeds])
    gap, gap_se = paired(rows["category"], rows["no_category"])
    means = {c: {k: float(np.mean([r[k] for seed_rows in rs for r in seed_rows if k in r]))
                 for k in sorted({k for seed_rows in rs for r in seed_rows for k in r})} for c, rs in rows.items()}
    named = int((dataset_category_ids(model, dataset, list(range(n))) != -1).sum())
    return {"n": n, "seeds": list(seeds), "named": named, "gap": gap, "gap_se": gap_se,
            "metrics": means, "rows": rows}


def against_floors(model, data, data_folder, train, train_folder, sample_rows: list[dict], consensus_rows=None,
                   points: int = 10000, seed: int = 0) -> dict:
    """The floors of issue 18's goal on the rows a checkpoint was just scored on, and the checkpoint against each.

    From the training cache `train` (opened from `train_folder`; trainer.references, as the bench builds them):
    the mean shape, the per-category mean shape (a point estimate that knows the category and nothing else) and
    a random training instance of the row's category (drawn with `seed`: what a sampler that knows only the
    category scores). The
    per-category rows need both caches' shape names, and every held-out category among the training ones;
    otherwise they are left out and `notes` says why. Returns {'rows': each floor's mean metrics and SEs,
    'sample_minus' and, given consensus rows, 'consensus_minus': {floor: {'delta', 'delta_se'}} paired per row
    (positive vIoU, negative Chamfer = above the floor), 'notes'}.
    """
    from .data.cache import shape_names
    from .references import missing_categories, reference_rows, row_categories

    n = len(sample_rows)
    cats = row_categories(data, shape_names(data_folder))
    train_cats = row_categories(train, shape_names(train_folder))
    notes = []
    if cats is None or train_cats is None:
        notes.append(f"no per-category floors: {data_folder if cats is None else train_folder} names no shapes of the "
                     "procedural vocabulary (a cache `prepare` wrote from one has them), so only the mean shape is scored")
    elif missing_categories(cats[:n], train_cats):
        notes.append("no per-category floors: no training row shows "
                     f"{', '.join(missing_categories(cats[:n], train_cats))} (a novel-category split)")
    summary, rows = reference_rows(model, data, train, n, points=points, heldout_categories=cats,
                                   train_categories=train_cats, return_rows=True, draws=(seed,),
                                   only={"mean_shape", "category_mean_shape", "category_random_instance"})
    out = {"train": str(train_folder), "n": n, "rows": summary, "notes": notes}
    for key, own in (("sample_minus", sample_rows), ("consensus_minus", consensus_rows)):
        if own is not None:
            out[key] = {}
            for name, floor in rows.items():
                delta, delta_se = paired([own], [floor])
                out[key][name] = {"delta": delta, "delta_se": delta_se}
    return out


def standard_error(x) -> float | None:
    """Standard error of the mean of x (None for fewer than two values)."""
    x = np.asarray(x, dtype=np.float64)
    return float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else None


def compare(cand: dict, base: dict) -> dict:
    """Deltas, their paired standard errors, per-metric improvement flags and the candidate's
    per-sample win rate (by Chamfer).

    Both checkpoints score the same rows from the same noise seeds, so `delta_se` is the standard
    error of the mean per-row difference, far below either mean's own (the rows' difficulty
    cancels). `better` is the sign of the delta; `better_2se` asks the delta to be at least two
    paired standard errors, the flag a promotion rule should read on a small held-out set.
    """
    delta, delta_se = {}, {}
    for k in HIGHER_IS_BETTER:
        pairs = [(a[k], b[k]) for a, b in zip(cand["rows"], base["rows"]) if k in a and k in b]
        if k in cand["metrics"] and k in base["metrics"]:
            delta[k] = cand["metrics"][k] - base["metrics"][k]
            delta_se[k] = standard_error([a - b for a, b in pairs])
    better = {k: (v > 0) == HIGHER_IS_BETTER[k] and v != 0 for k, v in delta.items()}
    better_2se = {k: better[k] and delta_se[k] is not None and abs(v) >= 2 * delta_se[k] for k, v in delta.items()}
    wins = [a["chamfer"] < b["chamfer"] for a, b in zip(cand["rows"], base["rows"])]
    return {"delta": delta, "delta_se": delta_se, "better": better, "better_2se": better_2se,
            "win_rate_chamfer": float(np.mean(wins)) if wins else None}


def evaluate(cfg) -> dict:
    """Run the evaluation described by an EvalConfig and write the report to cfg.out."""
    if not cfg.ckpt or not cfg.data:
        raise ValueError("evaluate needs --ckpt and --data (a held-out cache or export folder)")
    device = pick_device(cfg.device)
    model, manifest = load_checkpoint(cfg.ckpt, device=device)
    at_temperature(model, getattr(cfg, "temperature", 0.0))
    if getattr(cfg, "floors", "") and not cfg.icp:
        raise ValueError("--floors: the floors are scored ICP-aligned, as the bench's are, so their Chamfer and F1 "
                         "would not be like with like under --no-icp; drop one of the two")
    if getattr(cfg, "category_use", False) and not model.cfg.category_condition:
        raise ValueError(f"--category-use: {cfg.ckpt} does not condition on the category (trained without "
                         "--category-condition), so there is no category to withhold")
    data = open_dataset(cfg.data, model.cfg.grid, model.cfg.image_size, progress=cfg.progress)
    floors = (open_dataset(cfg.floors, model.cfg.grid, model.cfg.image_size, progress=cfg.progress)
              if getattr(cfg, "floors", "") else None)    # opened before any sampling: a wrong path fails at once
    kw = dict(n=cfg.n, mode=cfg.mode, points=cfg.points, emd_points=cfg.emd_points, icp=cfg.icp, seed=cfg.seed,
              progress=cfg.progress, dense_points=getattr(cfg, "dense_points", 0))
    res = evaluate_model(model, data, **kw)
    entry = lambda path, man, r: {"path": str(path), "hash": man["hash"], "stage": man.get("stage"),
                                  "step": man.get("step"), "metrics": r["metrics"], "metrics_se": r["metrics_se"],
                                  "sample_sec_per_item": r["sample_sec_per_item"]}
    report = {"data": data.snapshot, "n": res["n"], "mode": cfg.mode, "settings": {k: v for k, v in kw.items() if k != "progress"},
              "sampler": asdict(model.sample_config),
              "metric_directions": HIGHER_IS_BETTER, "ckpt": entry(cfg.ckpt, manifest, res)}
    if cfg.baseline:
        base_model, base_manifest = load_checkpoint(cfg.baseline, device=device)
        if (base_model.cfg.grid, base_model.cfg.image_size) != (model.cfg.grid, model.cfg.image_size):
            raise ValueError("the baseline has a different grid or view size; compare like with like")
        base = evaluate_model(base_model, data, **kw)
        report["baseline"] = entry(cfg.baseline, base_manifest, base)
        report.update(compare(res, base))
    consensus_rows = None
    if getattr(cfg, "consensus", 0):
        if cfg.consensus < 1:
            raise ValueError(f"--consensus must be >= 1 samples per row, got {cfg.consensus}")
        con = evaluate_consensus(model, data, k=cfg.consensus, **kw)
        consensus_rows = con["rows"]
        gain, gain_se = paired([con["rows"]], [res["rows"]])
        report["consensus"] = {"k": con["k"], "seeds": con["seeds"], "n": con["n"], "metrics": con["metrics"],
                               "metrics_se": con["metrics_se"], "over_one_sample": gain, "over_one_sample_se": gain_se,
                               "sample_sec_per_item": con["sample_sec_per_item"],
                               "score_sec_per_item": con["score_sec_per_item"],
                               "note": f"per row, the consensus of {con['k']} samples (seeds {con['seeds']}): the "
                                       "voxels most samples occupy, as many as their mean volume; over_one_sample is "
                                       f"paired with the single sample of seed {cfg.seed} (sample 0 of the consensus)"}
    if floors is not None:
        report["floors"] = against_floors(model, data, cfg.data, floors, cfg.floors, res["rows"], consensus_rows,
                                          points=cfg.points, seed=cfg.seed)
    uses = [(name, fn) for name, fn in (("image_use", image_use), ("category_use", category_use))
            if getattr(cfg, name, False)]
    if uses:
        # Both pair seeds seed and seed + 1; the first seed's own rows are the report's (the noise depends only on
        # (seed, row)), so only the second is sampled again.
        rest = {k: v for k, v in kw.items() if k != "seed"}
        own = [res["rows"], evaluate_model(model, data, seed=cfg.seed + 1, **rest)["rows"]]
        for name, fn in uses:
            use = fn(model, data, seeds=(cfg.seed, cfg.seed + 1), own_rows=own, **rest)
            report[name] = {k: v for k, v in use.items() if k != "rows"}
    Path(cfg.out).parent.mkdir(parents=True, exist_ok=True)
    Path(cfg.out).write_text(json.dumps(report, indent=2))
    return report
