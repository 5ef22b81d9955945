"""Preference pairs from the model's own samples, ordered by Chamfer distance to the ground truth.

Until the data engine feeds real annotations, this stands in for Stage 2: for each held-apart
condition draw k samples, score each by Chamfer distance (object frame, no ICP) between its
occupancy surface and the ground truth's, and keep (best, worst) as (chosen, rejected).
With chosen='truth' the chosen side is the ground truth itself and the rejected one the worst
sample, as the engine's pairs will be when a person's pick (retrieval, an artist's mesh) is
close to the truth and the model's own samples lose to it.
"""
from __future__ import annotations

import numpy as np
from tqdm import tqdm

from .data.cache import write_shards
from .data.pack import pack_occ
from .data.views import views_to_tensor
from .metrics.shape import chamfer
from .metrics.surface import occupancy_mesh, sample_points
from .sampling import sample_views

EMPTY_PENALTY = 10.0   # Chamfer assigned to an empty sample (worse than any real shape)


def occupancy_chamfer(pred: np.ndarray, gt: np.ndarray, points: int = 2048, seed: int = 0) -> float:
    """Chamfer distance between the surfaces of two (G,G,G) occupancies in the unit cube."""
    pm, gm = occupancy_mesh(pred), occupancy_mesh(gt)
    if pm is None or gm is None:
        return EMPTY_PENALTY
    return chamfer(sample_points(pm, points, seed), sample_points(gm, points, seed))


def make_self_pairs(model, dataset, out: str, k: int = 4, steps: int = 10, seed: int = 0,
                    batch_size: int = 16, progress: bool = True, chosen: str = "best") -> dict:
    """Write a pair cache (occ = chosen, occ_rejected) for every row of `dataset`; return its index.

    chosen: 'best' (the best of the k samples) or 'truth' (the ground truth against the worst sample).
    """
    if chosen not in ("best", "truth"):
        raise ValueError(f"unknown chosen {chosen!r}: use 'best' (the best sample) or 'truth' (the ground truth)")
    rows = {key: [] for key in ("views", "occ", "occ_rejected", "rotation", "translation", "scale", "layout_mask")}
    # Each pair keeps its row's category (as a one-name "shape" of the index), so DPO conditions a model that
    # takes the category (ModelConfig.category_condition) on it; "" = none.
    named = dataset.row_categories or [None] * len(dataset)
    category_names = [""] + sorted({c for c in named if c})
    if any(named):
        rows["shape_id"] = []
    gaps = []
    for start in tqdm(range(0, len(dataset), batch_size), desc="self pairs", disable=not progress):
        idx = list(range(start, min(len(dataset), start + batch_size)))
        batch = dataset.batch(idx)
        views = views_to_tensor(batch["views"])
        ids = model.category_ids([named[i] for i in idx])
        cands = [sample_views(model, views, seed=seed * 7919 + start * k + j, steps=steps, category=ids)[0].cpu().numpy()
                 for j in range(k)]                                          # k x (B, G, G, G)
        gt = batch["occ"].numpy()
        for b, i in enumerate(idx):
            scores = [occupancy_chamfer(c[b], gt[b]) for c in cands]
            best, worst = int(np.argmin(scores)), int(np.argmax(scores))
            top = 0.0 if chosen == "truth" else scores[best]
            if top == scores[worst]:
                continue
            gaps.append(scores[worst] - top)
            rows["views"].append(dataset.arrays["views"][i])
            rows["occ"].append(pack_occ((gt[b] if chosen == "truth" else cands[best][b])[None] >= 0.5)[0])
            rows["occ_rejected"].append(pack_occ(cands[worst][b][None] >= 0.5)[0])
            for key in ("rotation", "translation", "scale"):
                rows[key].append(dataset.arrays[key][i])
            rows["layout_mask"].append(np.zeros(3, np.float32))   # the pair differs in shape only
            if "shape_id" in rows:
                rows["shape_id"].append(np.int64(category_names.index(named[i] or "")))
    if not gaps:
        raise ValueError("no pair had distinct samples; raise k or the sampling steps")
    arrays = {key: np.stack(v) for key, v in rows.items()}
    meta = {"kind": "pairs", "grid": dataset.grid, "image_size": dataset.image_size, "seed": seed,
            "source": dataset.snapshot, "ckpt": getattr(model, "checkpoint_hash", None),
            "mean_chamfer_gap": float(np.mean(gaps)), "chosen": chosen,
            **({"shapes": category_names} if "shape_id" in rows else {})}
    return write_shards(out, arrays, meta, 1024)


def prepare_pairs(cfg, progress: bool = True) -> dict:
    """`prepare --kind pairs`: rank cfg.ckpt's samples on cfg.source into a pair cache at cfg.out."""
    from .checkpoints import load_checkpoint
    from .data.loader import open_dataset
    if not cfg.ckpt or not cfg.source:
        raise ValueError("--kind pairs needs --ckpt (the model to sample) and --source (a data cache)")
    model, _ = load_checkpoint(cfg.ckpt)
    data = open_dataset(cfg.source, model.cfg.grid, model.cfg.image_size, progress=progress)
    if cfg.n < len(data):
        data = data.subset(range(cfg.n))
    return make_self_pairs(model, data, cfg.out, k=cfg.pair_samples, steps=cfg.pair_steps, seed=cfg.seed,
                           progress=progress, chosen=getattr(cfg, "pair_chosen", "best"))
