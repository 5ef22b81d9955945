"""`cascade`: a chain of checkpoints (pretrain -> SFT -> DPO -> next iteration ...) on the same held-out rows.

The published "cascading improvements" table: each stage's metrics, and each stage's change from
the one it was trained from (its parent: the row above unless a stage names another) as a paired
difference. Every checkpoint samples every row once per seed from
the same noise (the noise depends only on seed and row), so for metric k, row i and seed s

    step_k(j) = mean_i mean_s [ k(ckpt_j)_is - k(ckpt_parent(j))_is ],   step_se = std_i(...) / sqrt(n)

and the same against the first checkpoint (`from_first`). Seeds are replicates of a row, not rows.
A checkpoint already scored on these rows and settings (by `compare`, in a flywheel run) is not
sampled again: its rows are remembered in its folder (trainer.evaluate.evaluate_remembered).
"""
from __future__ import annotations

import numpy as np

from .checkpoints import load_checkpoint
from .data.loader import open_dataset
from .distributed import pick_device
from .evaluate import evaluate_remembered, paired, standard_error


def summarize(results: list[dict]) -> tuple[dict, dict]:
    """(metrics, metrics_se) of one checkpoint: means over rows of each row's mean over seeds, SE across rows."""
    n = len(results[0]["rows"])
    keys = sorted({k for r in results for row in r["rows"] for k in row})
    per_row = {k: [float(np.mean(v)) for v in ([r["rows"][i][k] for r in results if k in r["rows"][i]]
                                                for i in range(n)) if v] for k in keys}
    return ({k: float(np.mean(v)) for k, v in per_row.items() if v},
            {k: standard_error(v) for k, v in per_row.items() if v})


def cascade(stages: list[tuple], data: str, seeds=(0, 1), n: int = 64, steps: int | None = None,
            points: int = 4000, emd_points: int = 256, icp: bool = True, device: str = "auto",
            progress: bool = False, echo=None) -> dict:
    """Evaluate (label, checkpoint[, parent label]) stages in order; return their metrics and paired steps.

    The result is JSON-able. A stage's step is from its parent, a label above it (default: the
    row above). All checkpoints must share a grid and view size (one held-out set serves them all).
    """
    if not stages:
        raise ValueError("cascade needs at least one (label, checkpoint) stage")
    if n < 2:
        raise ValueError(f"n must be at least 2 for a standard error, got {n}")
    dev = pick_device(device)
    dataset, rows, out = None, {}, []
    for label, path, *parent in stages:
        parent = parent[0] if parent else (out[-1]["label"] if out else None)
        if parent is not None and parent not in rows:
            raise ValueError(f"stage {label!r} names parent {parent!r}, which is not a stage above it")
        model, manifest = load_checkpoint(path, device=dev)
        if dataset is None:
            dataset = open_dataset(data, model.cfg.grid, model.cfg.image_size, progress=progress)
        if echo:
            echo(f"evaluate {label} ({manifest.get('stage')}, step {manifest.get('step')}) on {min(n, len(dataset))} "
                 f"held-out rows x {len(seeds)} seeds")
        results = [evaluate_remembered(model, path, dataset, data, n=min(n, len(dataset)), steps=steps, points=points,
                                       emd_points=emd_points, icp=icp, seed=seed, progress=progress) for seed in seeds]
        metrics, metrics_se = summarize(results)
        entry = {"label": label, "path": str(path), "stage": manifest.get("stage"), "hash": manifest.get("hash"),
                 "metrics": metrics, "metrics_se": metrics_se}
        per_seed = [r["rows"] for r in results]
        if parent is not None:
            entry["parent"] = parent
            entry["step"], entry["step_se"] = paired(per_seed, rows[parent])
            entry["from_first"], entry["from_first_se"] = paired(per_seed, rows[out[0]["label"]])
        rows[label] = per_seed
        out.append(entry)
    return {"n": min(n, len(dataset)), "seeds": list(seeds), "steps": steps, "stages": out}


def format_cascade(report: dict, metrics=("viou", "chamfer", "f1@0.05")) -> str:
    """The cascade as an aligned text table: value ± SE per metric, and the paired step from each stage's parent."""
    shown = [m for m in metrics if any(m in s["metrics"] for s in report["stages"])]
    head = ["stage", "from"] + [f"{m} ± se" for m in shown] + [f"Δ{m} vs from ± se" for m in shown]
    body = []
    for s in report["stages"]:
        cells = [s["label"], s.get("parent") or "—"]
        cells += [f"{s['metrics'][m]:.4f} ± {s['metrics_se'].get(m) or 0:.4f}" if m in s["metrics"] else "—"
                  for m in shown]
        cells += [f"{s['step'][m]:+.4f} ± {s['step_se'].get(m) or 0:.4f}" if m in s.get("step", {}) else "—"
                  for m in shown]
        body.append(cells)
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
    return "\n".join([line(head), line(["-" * w for w in widths]), *map(line, body)])
