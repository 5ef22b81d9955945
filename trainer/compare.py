"""`compare`: two checkpoints on the same held-out rows and seeds, as a promotion decision needs them.

For each metric k, each held-out row i and each seed s, both checkpoints sample from the same
noise, so the difference d_is = k(a)_is - k(b)_is cancels the row's difficulty. With
d_i = mean_s d_is (seeds are replicates of one row, not independent rows):

    delta_k = mean_i d_i,    delta_se_k = std_i(d_i) / sqrt(n)

Held-out preference accuracy of a checkpoint against a reference is the share of held-out pairs
whose chosen side gets the higher implicit reward (trainer.rewards), ties counted 1/2, as DPO's
own `rewards/accuracies`; its standard error is that of a mean of 0 / 0.5 / 1 values. With `--ref`,
both checkpoints are scored against it (does each prefer the chosen shapes more than the reference
does?), a DPO checkpoint too: the promotion rule asks that of π_k against the deployed π_{k-1}.
Without `--ref`, a DPO checkpoint is scored against its own reference (its manifest's: the SFT
checkpoint it was trained from, which it was trained to beat on such pairs) and any other
checkpoint's entry is None; the reference itself has none (every reward would be 0). A checkpoint
that is not DPO's, or a DPO run at beta 0 (the anchor alone), is scored with DPO's default beta, which
scales the margin but not the accuracy (`trainer.rewards.reward_beta`).

Each checkpoint's rows are remembered in its folder (trainer.evaluate.evaluate_remembered), so
comparing it again on the same rows and settings samples nothing.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from .checkpoints import load_checkpoint, read_manifest, resolve
from .data.loader import open_dataset
from .data.views import views_to_tensor
from .distributed import pick_device
from .evaluate import HIGHER_IS_BETTER, dataset_category_ids, evaluate_remembered, paired, standard_error
from .flow import FlowBatch, interpolate, per_sample_mse
from .layout import LAYOUT_DIM
from .rewards import reward_beta, reward_settings


@torch.no_grad()
def pair_rewards(policy, reference, beta: float, views: torch.Tensor, occ_w: torch.Tensor, occ_l: torch.Tensor,
                 draws: int = 8, seed: int = 0, weights: dict | None = None, tau_mean: float = 1.0,
                 tau_std: float = 1.0, category: torch.Tensor | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(chosen (N,), rejected (N,)) implicit rewards of N pairs; views (N, V, 3, S, S), occ (N, G, G, G);
    category (N,): the pairs' categories, for models that condition on one (`FlowModel.category_ids`).

    Each pair's two sides share its t and noise in every draw (common random numbers), as in DPO.
    """
    device = next(policy.parameters()).device
    two = lambda x: torch.cat([x, x])
    N = len(occ_w)
    occ = torch.cat([occ_w, occ_l]).to(device).float().ge(0.5).float()
    x0 = policy.vae.to_latent(occ)
    v = two(views.to(device))
    c = None if category is None else two(category)
    cond_p, cond_r = policy.encode_condition(v, category=c), reference.encode_condition(v, category=c)
    layout, layout_mask = torch.zeros(2 * N, LAYOUT_DIM, device=device), torch.zeros(2 * N, 3, device=device)
    g = torch.Generator().manual_seed(seed)
    total = torch.zeros(2 * N, device=device)
    for _ in range(draws):
        t = two(torch.sigmoid(torch.randn(N, generator=g) * tau_std + tau_mean)).to(device)
        eps_s = two(torch.randn(N, *x0.shape[1:], generator=g)).to(device)
        eps_l = two(torch.randn(N, LAYOUT_DIM, generator=g)).to(device)
        fb = FlowBatch(interpolate(x0, eps_s, t), interpolate(layout, eps_l, t), t, eps_s - x0, eps_l - layout)
        m = per_sample_mse(*policy(fb.x_shape, fb.x_layout, t, cond_p), fb, layout_mask, weights)
        r = per_sample_mse(*reference(fb.x_shape, fb.x_layout, t, cond_r), fb, layout_mask, weights)
        total += m - r
    reward = (-0.5 * beta * total / draws).cpu().numpy()
    return reward[:N], reward[N:]


def preference_accuracy(ckpt: str, pairs, draws: int = 8, seed: int = 0, batch_size: int = 16,
                        device="cpu", ref: str = "") -> dict | None:
    """{accuracy, se, n, margin, ref} of a checkpoint on a pair dataset, against `ref` or else its DPO reference.

    None when it has neither, or when the reference is the checkpoint itself (every reward would be 0).
    """
    path = resolve(ckpt)
    manifest = read_manifest(path)
    reference_path = ref or manifest.get("ref")
    if not reference_path or resolve(reference_path) == path:
        return None
    policy, _ = load_checkpoint(path, device=device)
    reference, _ = load_checkpoint(reference_path, device=device)
    settings = reward_settings(manifest)
    beta = reward_beta(manifest)
    wins, margins = [], []
    for start in range(0, len(pairs), batch_size):
        idx = list(range(start, min(len(pairs), start + batch_size)))
        batch = pairs.batch(idx)
        c, r = pair_rewards(policy.eval(), reference.eval(), beta, views_to_tensor(batch["views"]),
                            batch["occ"], batch["occ_rejected"], draws, seed + start,
                            category=dataset_category_ids(policy, pairs, idx), **settings)
        wins += list((np.sign(c - r) + 1) / 2)
        margins += list(c - r)
    if not wins:
        return None
    return {"accuracy": float(np.mean(wins)), "se": standard_error(wins), "n": len(wins),
            "margin": float(np.mean(margins)), "ref": str(resolve(reference_path))}


def compare(cfg) -> dict:
    """Run the comparison a CompareConfig describes, write it to cfg.out (when set) and return it."""
    if not (cfg.a and cfg.b and cfg.data):
        raise ValueError("compare needs --a (the new checkpoint), --b (the deployed one) and --data (held-out rows)")
    device = pick_device(cfg.device)
    model_a, man_a = load_checkpoint(cfg.a, device=device)
    model_b, man_b = load_checkpoint(cfg.b, device=device)
    if (model_a.cfg.grid, model_a.cfg.image_size) != (model_b.cfg.grid, model_b.cfg.image_size):
        raise ValueError(f"{cfg.a} and {cfg.b} have different grids or view sizes; compare like with like")
    grid, size = model_a.cfg.grid, model_a.cfg.image_size
    data = open_dataset(cfg.data, grid, size, progress=cfg.progress)
    kw = dict(n=min(cfg.n, len(data)), steps=cfg.steps or None, points=cfg.points, emd_points=cfg.emd_points,
              icp=cfg.icp, progress=cfg.progress)
    runs = {"a": [], "b": []}
    for seed in cfg.seeds:
        runs["a"].append(evaluate_remembered(model_a, cfg.a, data, cfg.data, seed=seed, **kw))
        runs["b"].append(evaluate_remembered(model_b, cfg.b, data, cfg.data, seed=seed, **kw))
    delta, delta_se = paired([r["rows"] for r in runs["a"]], [r["rows"] for r in runs["b"]])

    def entry(path, manifest, results):
        """Means over rows and seeds, and the SE across rows of each row's mean over seeds."""
        keys = sorted({k for r in results for row in r["rows"] for k in row})
        per_row = {k: [np.mean(v) for v in ([r["rows"][i][k] for r in results if k in r["rows"][i]]
                                            for i in range(len(results[0]["rows"]))) if v] for k in keys}
        return {"path": str(resolve(path)), "hash": manifest.get("hash"), "stage": manifest.get("stage"),
                "step": manifest.get("step"), "metrics": {k: float(np.mean(v)) for k, v in per_row.items()},
                "metrics_se": {k: standard_error(v) for k, v in per_row.items()}}

    report = {"n": runs["a"][0]["n"], "seeds": list(cfg.seeds), "steps": cfg.steps or None,
              "metric_directions": HIGHER_IS_BETTER, "a": entry(cfg.a, man_a, runs["a"]),
              "b": entry(cfg.b, man_b, runs["b"]), "delta": delta, "delta_se": delta_se, "preference": None}
    if cfg.pairs:
        pairs = open_dataset(cfg.pairs, grid, size, kind="pairs", progress=cfg.progress)
        report["preference"] = {name: preference_accuracy(path, pairs, cfg.draws, device=device, ref=cfg.ref)
                                for name, path in (("a", cfg.a), ("b", cfg.b))}
    if cfg.out:
        Path(cfg.out).parent.mkdir(parents=True, exist_ok=True)
        Path(cfg.out).write_text(json.dumps(report, indent=2))
    return report
