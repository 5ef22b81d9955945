"""Shortcut distillation (Frans et al. 2024, as adapted in SAM 3D): one checkpoint, two samplers.

The model takes the step size d (0 = flow matching); its embedding starts at zero so the student
begins as its teacher. Each batch mixes:
  * (1 - shortcut_frac): flow matching, target v = eps - x0, d = 0, condition dropout as usual;
  * shortcut_frac: self-consistency. Draw d = 2^-k (k = 1..min_step_log2) and t on the grid
    {2d, 3d, ..., 1}; two half steps of size d give the target for one step of size 2d:
        v1 = u(x_t, t, d),  x' = x_t - d v1,  v2 = u(x', t - d, d),  target = (v1 + v2) / 2,
    where u at the smallest d is the frozen teacher's CFG velocity v_u + w (v_c - v_u) (w = 2,
    so guidance is baked in) and the student itself (no gradient) at larger d.
Sampling: `mode="flow"` (25 Euler steps with CFG) or `mode="shortcut"` (4 steps of d = 1/4, no CFG).
"""
from __future__ import annotations

import torch

from .flow import FlowBatch, loss_weights, make_flow_batch
from .latents import attach_latents
from .loop import fit
from .objectives import FlowObjective, data_targets, draw_noise
from .data.views import views_to_tensor
from .dpo import load_reference
from .stage import base_manifest, build_model, load_data, setup


def guided(model, x_s, x_l, t, cond, uncond, w: float, d=None):
    """v_u + w (v_c - v_u) for per-sample t (B,), in one batched forward."""
    two = lambda x: torch.cat([x, x])
    vs, vl = model(two(x_s), two(x_l), two(t), torch.cat([cond, uncond]), None if d is None else two(d))
    (vs_c, vs_u), (vl_c, vl_u) = vs.chunk(2), vl.chunk(2)
    return vs_u + w * (vs_c - vs_u), vl_u + w * (vl_c - vl_u)


@torch.no_grad()
def shortcut_targets(student, teacher, x_s, x_l, t, d, views, cfg):
    """Targets (v_shape, v_layout) for one step of size 2d from two steps of size d, (B, ...) each."""
    base = d <= 2.0 ** -cfg.min_step_log2 + 1e-9                       # (B,) smallest level: teacher
    c_t = teacher.encode_condition(views)
    c_s = student.encode_condition(views)

    def u(xs, xl, tt):
        ts, tl = guided(teacher, xs, xl, tt, c_t, teacher.null_condition(c_t), cfg.cfg_weight)
        ss, sl = student(xs, xl, tt, c_s, d)
        pick = lambda a, b: torch.where(base.view(-1, *[1] * (a.dim() - 1)), a, b)
        return pick(ts, ss), pick(tl, sl)

    v1s, v1l = u(x_s, x_l, t)
    dd = d.view(-1, 1, 1, 1, 1)
    v2s, v2l = u(x_s - dd * v1s, x_l - d[:, None] * v1l, t - d)
    return (v1s + v2s) / 2, (v1l + v2l) / 2


def distill_step(cfg, model, teacher):
    """Return step_fn(objective, batch, gen) -> (loss, logs) mixing flow and shortcut rows."""
    def step_fn(objective, batch, gen):
        x0_s, x0_l = data_targets(model, batch)
        B = x0_s.shape[0]
        n_sc = int(round(B * cfg.shortcut_frac))
        t, eps_s, eps_l, drop = draw_noise(model, B, gen, cfg, x0_s.device)
        k = torch.randint(1, cfg.min_step_log2 + 1, (B,), generator=gen)
        d = (2.0 ** -k.float())                                          # half-step size
        j = torch.floor(torch.rand(B, generator=gen) * (1 / d - 1)) + 2  # t = j d, j in {2..1/d}
        d, t_sc = d.to(x0_s.device), (j * d.cpu()).clamp(max=1.0).to(x0_s.device)
        is_sc = torch.arange(B, device=x0_s.device) >= B - n_sc
        t = torch.where(is_sc, t_sc, t)
        fb = make_flow_batch(x0_s, x0_l, t, eps_s, eps_l)
        views = views_to_tensor(batch["views"])
        d_in = torch.where(is_sc, 2 * d, torch.zeros_like(d))
        if n_sc:
            sl = slice(B - n_sc, B)
            ts, tl = shortcut_targets(model, teacher, fb.x_shape[sl], fb.x_layout[sl], t[sl], d[sl], views[sl], cfg)
            v_s, v_l = fb.v_shape.clone(), fb.v_layout.clone()
            v_s[sl], v_l[sl] = ts, tl
            fb = FlowBatch(fb.x_shape, fb.x_layout, t, v_s, v_l)
        drop = drop & ~is_sc
        m = objective(views, drop, fb, batch["layout_mask"], d_in)
        logs = {"loss": m.mean().item(), "loss/flow": m[~is_sc].mean().item() if n_sc < B else 0.0,
                "loss/shortcut": m[is_sc].mean().item() if n_sc else 0.0}
        return m.mean(), logs
    return step_fn


def train(cfg):
    """Distill cfg.init into a shortcut model (the frozen teacher is the same checkpoint)."""
    if not cfg.init:
        raise ValueError("distill needs --init (the checkpoint to distill, e.g. the DPO result)")
    device, rank, world = setup(cfg)
    model, parent = build_model(cfg, device)
    teacher = load_reference(cfg.init, device)
    data = load_data(cfg.data, model, progress=cfg.progress)
    model.set_trainable(step_embedding=True)
    if cfg.cache_latents:
        for ds in (data,):
            attach_latents(model, ds, progress=cfg.progress)
    objective = FlowObjective(model, loss_weights(cfg))
    manifest = base_manifest(parent, [data], world, model)
    manifest["sampler"].update(shortcut_steps=4)
    manifest.update(teacher=parent["parent"], teacher_hash=parent["parent_hash"], cfg_weight=cfg.cfg_weight)
    ema = fit(cfg, model, objective, data, distill_step(cfg, model, teacher), manifest, device, rank, world)
    return model, ema
