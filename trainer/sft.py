"""Flow-matching training: pretraining (renders), mid-training (composites) and SFT (exports).

    loss = mean_b sum_m lambda_m || v^m - v_theta^m(x_t^m, c, t) ||^2,   t ~ logit-normal,
    lambda = shape 1.0, rotation 0.1, translation 1.0, scale 0.1 (the published table).

A fresh model first trains its VAE (dice + small KL), which is then frozen so the flow's data
distribution (the scaled latent) stays fixed.
"""
from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from . import distributed as D
from .data.loader import attach_categories, data_vocabulary
from .flow import loss_weights
from .latents import attach_latents
from .loop import batch_indices, fit, step_generator
from .objectives import FlowObjective, condition_category, flow_inputs
from .stage import base_manifest, build_model, load_data, setup


def train_vae(model, dataset, cfg, device) -> None:
    """Train the VAE for cfg.vae_steps, set latent_scale = 1/std(latent means), mark it trained.

    Every rank runs the same deterministic VAE phase (it is small), so no gradient sync is needed.
    """
    vae = model.vae
    opt = torch.optim.AdamW(vae.parameters(), lr=cfg.vae_lr, weight_decay=0.0)
    bar = tqdm(range(cfg.vae_steps), desc="vae", disable=not (cfg.progress and D.is_main()))
    for step in bar:
        rows = batch_indices(len(dataset), cfg.vae_batch_size, cfg.seed + 17, step)
        occ = dataset.batch(rows)["occ"].to(device)
        loss, parts = vae.loss(occ, cfg.kl_weight, step_generator(cfg.seed + 17, step, 0))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        bar.set_postfix(dice=f"{parts['vae/dice']:.3f}")
    with torch.no_grad():
        rows = list(range(min(len(dataset), 256)))
        z = torch.cat([vae.encode(dataset.batch(rows[i:i + 32])["occ"].to(device))[0] for i in range(0, len(rows), 32)])
        vae.latent_scale.fill_(1.0 / z.std().clamp_min(1e-6).item())
        vae.trained.fill_(True)


def sft_step(cfg, model):
    """Return step_fn(objective, batch, gen) -> (loss, logs) for flow matching (+ the category loss, when on)."""
    def step_fn(objective, batch, gen):
        views, drop, fb, mask = flow_inputs(model, batch, gen, cfg)
        given = condition_category(model, batch, gen)
        if cfg.category_loss <= 0:
            m = objective(views, drop, fb, mask, given=given)
            return m.mean(), {"loss": m.mean().item()}
        m, ce = objective(views, drop, fb, mask, category=batch["category"], given=given)
        counted = ((batch["category"] >= 0) & ~drop).sum().clamp_min(1)
        category = ce.sum() / counted
        return m.mean() + cfg.category_loss * category, {"loss": m.mean().item(), "category_loss": category.item()}
    return step_fn


def category_setup(cfg, model, data) -> dict:
    """Check the category loss can train and give `data` its category array; return the manifest's note."""
    if model.cfg.category_condition:
        if cfg.category_loss > 0:
            raise ValueError(f"--category-loss {cfg.category_loss}: this model is given the category as a condition "
                             "token, so a head that names it from the condition would learn nothing; use one or the "
                             "other")
        rows = int((data.arrays["category"] >= 0).sum())      # load_data gave the rows their categories
        return {"category_condition": {"rows_with_category": rows, "rows": len(data),
                                       "dropout": model.cfg.category_dropout}}
    if cfg.category_loss <= 0:
        return {}
    if not model.cfg.categories:
        raise ValueError(f"--category-loss {cfg.category_loss}: the parent {cfg.init} has no category head; train "
                         "its stages from scratch with the loss (the head's vocabulary is fixed at pretraining)")
    rows = attach_categories(data, model.cfg.categories)
    if rows == 0:
        raise ValueError(f"--category-loss {cfg.category_loss}: no training row has a category of the model's "
                         f"vocabulary ({', '.join(model.cfg.categories)}); categories come from a cache's shape names")
    return {"category_loss": {"weight": cfg.category_loss, "rows_with_category": rows, "rows": len(data)}}


def load_replay(cfg, model):
    """The replayed sources (cfg.replay) as one dataset, its rows given their categories as new rows are."""
    replay = load_data(cfg.replay, model, progress=cfg.progress)
    if cfg.category_loss > 0 and not model.cfg.category_condition:
        attach_categories(replay, model.cfg.categories)
    return replay


def check_replay_share(cfg):
    """Refuse a replay share outside (0, 1), before any model or data is loaded."""
    if cfg.replay and not 0 < cfg.replay_share < 1:
        raise ValueError(f"--replay-share is the share of each batch drawn from --replay, between 0 and 1 (both "
                         f"excluded); got {cfg.replay_share}")


def with_replay(cfg, model, data):
    """`data` followed by the replayed sources (cfg.replay), which the loop draws cfg.replay_share of each batch
    from (`loop.mixed_batch_indices`); and the manifest's note. Replayed rows get their categories as the new ones
    did."""
    from .data.arrays import concat
    replay = load_replay(cfg, model)
    mixed = concat([data, replay])
    mixed.row_categories = (data.row_categories or [None] * len(data)) + (replay.row_categories or [None] * len(replay))
    mixed.replay_rows = len(replay)
    return mixed, {"replay": {"sources": [str(p) for p in cfg.replay], "rows": len(replay), "new_rows": len(data),
                              "share": cfg.replay_share}}


def eval_loss_fn(cfg, model, dataset, n_batches: int = 4):
    """Held-out flow loss with fixed noise (comparable across steps): eval_loss."""
    objective = FlowObjective(model, loss_weights(cfg))

    @torch.no_grad()
    def fn(_model):
        model.eval()
        total, count = 0.0, 0
        for k in range(n_batches):
            rows = [i % len(dataset) for i in range(k * cfg.batch_size, (k + 1) * cfg.batch_size)]
            batch = {key: v.to(next(model.parameters()).device) for key, v in dataset.batch(rows).items()}
            views, drop, fb, mask = flow_inputs(model, batch, step_generator(cfg.seed + 99, k, 0), cfg)
            total += objective(views, torch.zeros_like(drop), fb, mask, given=condition_category(model, batch)).sum().item()
            count += len(rows)
        model.train()
        return {"eval_loss": total / count}
    return fn


def train(cfg):
    """Run one flow-matching stage; return the trained model (raw weights) and its EMA state."""
    check_replay_share(cfg)
    device, rank, world = setup(cfg)
    wants = cfg.category_loss > 0 or getattr(cfg, "category_condition", False)
    vocabulary = data_vocabulary(cfg.data) if wants and not cfg.init else None
    if vocabulary == []:
        flag = f"--category-loss {cfg.category_loss}" if cfg.category_loss > 0 else "--category-condition"
        raise ValueError(f"{flag}: the training data names no categories (a cache's "
                         "shape names give them, and an engine export's Stage 1 categories)")
    model, parent = build_model(cfg, device, categories=vocabulary)
    data = load_data(cfg.data, model, progress=cfg.progress)
    category_note = category_setup(cfg, model, data)
    replay_note = {}
    if cfg.replay:
        data, replay_note = with_replay(cfg, model, data)
    eval_data = load_data([cfg.eval_data], model, progress=cfg.progress) if cfg.eval_data else None
    vae_ckpt = Path(cfg.out) / "vae.safetensors"
    if not bool(model.vae.trained):
        if cfg.resume and vae_ckpt.exists():
            model.vae.load_state_dict(load_file(str(vae_ckpt)))
        else:
            train_vae(model, data, cfg, device)
            if D.is_main():
                Path(cfg.out).mkdir(parents=True, exist_ok=True)
                save_file({k: v.contiguous() for k, v in model.vae.state_dict().items()}, str(vae_ckpt))
    model.set_trainable(layout_only=cfg.freeze_shape, category_head=cfg.category_loss > 0)
    if cfg.cache_latents:
        for ds in (data, eval_data) if eval_data is not None else (data,):
            attach_latents(model, ds, progress=cfg.progress and D.is_main())
    objective = FlowObjective(model, loss_weights(cfg))
    manifest = {**base_manifest(parent, [data, eval_data], world, model), **category_note, **replay_note}
    ev = eval_loss_fn(cfg, model, eval_data) if eval_data is not None else None
    ema = fit(cfg, model, objective, data, sft_step(cfg, model), manifest, device, rank, world, ev)
    return model, ema
