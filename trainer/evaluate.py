"""`evaluate`: sample a checkpoint on a held-out set, score it with the published metrics, and
compare it with another checkpoint. The JSON report carries what a promotion decision needs:
both checkpoints' hashes and stages, mean metrics, deltas, which metrics improved, and the
share of samples on which the candidate beats the baseline (by Chamfer).

An empty prediction scores F1 = vIoU = 0 and Chamfer = EMD = 2 sqrt(3), the largest distance
inside [-1, 1]^3; layout metrics are computed only where the data has a full pose.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .checkpoints import load_checkpoint
from .data.loader import open_dataset
from .data.views import views_to_tensor
from .distributed import pick_device
from .metrics import layout_metrics, occupancy_mesh, sample_points, shape_metrics
from .sampling import sample_views

HIGHER_IS_BETTER = {"f1@0.01": True, "viou": True, "chamfer": False, "emd": False, "box_iou": True,
                    "rot_err_deg": False, "add_s": False, "add_s@0.1": True}
WORST = {"f1@0.01": 0.0, "viou": 0.0, "chamfer": 2 * 3 ** 0.5, "emd": 2 * 3 ** 0.5}


def score_sample(probs: np.ndarray, gt: np.ndarray, pose, gt_pose, with_layout: bool, points: int,
                 emd_points: int, icp: bool, seed: int = 0) -> dict:
    """Metrics of one predicted occupancy (+ pose) against the ground truth occupancy (+ pose)."""
    pm, gm = occupancy_mesh(probs), occupancy_mesh(gt)
    if gm is None:
        raise ValueError("a ground-truth occupancy is empty; check the data cache")
    if pm is None:
        return dict(WORST, empty=1.0)
    shape, T = shape_metrics(pm, gm, points, emd_points, icp, seed=seed, return_transform=True)
    out = dict(shape, empty=0.0)
    if with_layout:
        out.update(layout_metrics(sample_points(pm, 2048, seed), sample_points(gm, 2048, seed), pose, gt_pose, T[:3, :3]))
    return out


def evaluate_model(model, dataset, n: int, mode: str = "flow", steps: int | None = None, points: int = 10000,
                   emd_points: int = 512, icp: bool = True, seed: int = 0, batch_size: int = 16,
                   progress: bool = True) -> dict:
    """Mean metrics of `model` on the first n rows of `dataset`, plus per-sample rows and timing."""
    n = min(n, len(dataset))
    rows, sample_sec = [], 0.0
    for start in tqdm(range(0, n, batch_size), desc=f"evaluate ({mode})", disable=not progress):
        idx = list(range(start, min(n, start + batch_size)))
        batch = dataset.batch(idx)
        t0 = time.perf_counter()
        probs, R, t, s, _, _ = sample_views(model, views_to_tensor(batch["views"]), seed + start, mode=mode, steps=steps)
        sample_sec += time.perf_counter() - t0
        for b in range(len(idx)):
            full_pose = bool(batch["layout_mask"][b].all())
            rows.append(score_sample(
                probs[b].cpu().numpy(), batch["occ"][b].numpy(),
                (R[b].cpu().numpy(), t[b].cpu().numpy(), float(s[b])),
                (batch["rotation"][b].numpy(), batch["translation"][b].numpy(), float(batch["scale"][b])),
                full_pose, points, emd_points, icp, seed))
    keys = sorted({k for r in rows for k in r})
    means = {k: float(np.mean([r[k] for r in rows if k in r])) for k in keys}
    return {"metrics": means, "metrics_se": {k: standard_error([r[k] for r in rows if k in r]) for k in keys},
            "rows": rows, "n": n, "sample_sec_per_item": sample_sec / max(n, 1)}


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
    data = open_dataset(cfg.data, model.cfg.grid, model.cfg.image_size, progress=cfg.progress)
    kw = dict(n=cfg.n, mode=cfg.mode, points=cfg.points, emd_points=cfg.emd_points, icp=cfg.icp, seed=cfg.seed,
              progress=cfg.progress)
    res = evaluate_model(model, data, **kw)
    entry = lambda path, man, r: {"path": str(path), "hash": man["hash"], "stage": man.get("stage"),
                                  "step": man.get("step"), "metrics": r["metrics"], "metrics_se": r["metrics_se"],
                                  "sample_sec_per_item": r["sample_sec_per_item"]}
    report = {"data": data.snapshot, "n": res["n"], "mode": cfg.mode, "settings": {k: v for k, v in kw.items() if k != "progress"},
              "metric_directions": HIGHER_IS_BETTER, "ckpt": entry(cfg.ckpt, manifest, res)}
    if cfg.baseline:
        base_model, base_manifest = load_checkpoint(cfg.baseline, device=device)
        if (base_model.cfg.grid, base_model.cfg.image_size) != (model.cfg.grid, model.cfg.image_size):
            raise ValueError("the baseline has a different grid or view size; compare like with like")
        base = evaluate_model(base_model, data, **kw)
        report["baseline"] = entry(cfg.baseline, base_manifest, base)
        report.update(compare(res, base))
    Path(cfg.out).parent.mkdir(parents=True, exist_ok=True)
    Path(cfg.out).write_text(json.dumps(report, indent=2))
    return report
