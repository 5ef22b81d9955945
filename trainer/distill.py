"""Shortcut distillation (Frans et al. 2024, as adapted in SAM 3D): one checkpoint, two samplers.

The model takes the step size d (0 = flow matching); its embedding starts at zero so the student
begins as its teacher. Each batch mixes:
  * (1 - shortcut_frac): flow matching (target v: see trainer.flow), d = 0, condition dropout as usual;
  * shortcut_frac: self-consistency for one step of size 2d from two half steps of size d:
        v1 = u(x_t, t, d),  x' = x_t - d v1,  v2 = u(x', t - d, d),  target = (v1 + v2) / 2,
    trained with the model told 2d. The levels 2d = 2^-(k-1), k = 1..min_step_log2, are spread
    evenly over the shortcut rows, and t is drawn from the points a sampler of step 2d visits,
    t in {2d, 4d, ..., 1} (as in the reference code: t on multiples of the trained step).
    At the smallest half step d = 2^-min_step_log2, u is the frozen teacher's guided velocity
    v_u + w (v_c - v_u) with w = cfg_weight (2) inside the guidance interval and w = 1 outside,
    i.e. exactly what the 25-step CFG sampler integrates, so guidance is baked in; at larger d,
    u is the student itself at step d (no gradient, conditional, no CFG).
  * `teacher_start_frac` (half) of the shortcut rows learn the 4-step sampler's first step,
    from pure noise at t = 1 to t = 3/4, with the target (x_1 - x'_{3/4}) / (1/4) where x' is the
    frozen teacher's guided Euler integration over that interval on the flow sampler's rescaled
    grid. That step is where the bootstrapped targets fail: it decides the global shape, the flow
    sampler spends half its steps there, and self-consistency gives it about 0.3 rows per batch.
Sampling: `mode="flow"` (25 Euler steps with CFG) or `mode="shortcut"` (4 steps of d = 1/4, no CFG).
"""
from __future__ import annotations

import torch

from .flow import FlowBatch, loss_weights, make_flow_batch
from .latents import attach_latents
from .loop import fit
from .objectives import FlowObjective, condition_category, data_targets, draw_noise
from .config import SampleConfig
from .data.views import views_to_tensor
from .dpo import load_reference
from .sampling import guided_euler, time_grid
from .stage import base_manifest, build_model, load_data, setup

SHORTCUT_STEPS = SampleConfig().shortcut_steps   # the steps the first-step targets and the manifest assume


def guided(model, x_s, x_l, t, cond, uncond, w, d=None):
    """v_u + w (v_c - v_u) for per-sample t (B,) and w (float or (B,)), in one batched forward."""
    two = lambda x: torch.cat([x, x])
    vs, vl = model(two(x_s), two(x_l), two(t), torch.cat([cond, uncond]), None if d is None else two(d))
    (vs_c, vs_u), (vl_c, vl_u) = vs.chunk(2), vl.chunk(2)
    w = torch.as_tensor(w, dtype=vs.dtype, device=vs.device)
    ws, wl = (w.view(-1, *[1] * (vs.dim() - 1)), w.view(-1, 1)) if w.dim() else (w, w)
    return vs_u + ws * (vs_c - vs_u), vl_u + wl * (vl_c - vl_u)


def guidance_weight(t: torch.Tensor, w: float, interval) -> torch.Tensor:
    """(B,) CFG weight per sample: w where lo <= t <= hi, else 1 (the conditional velocity), as in sampling."""
    lo, hi = interval
    return torch.where((t >= lo - 1e-6) & (t <= hi + 1e-6), torch.full_like(t, w), torch.ones_like(t))


def shortcut_times(n: int, gen: torch.Generator, min_step_log2: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Half-step sizes d (n,) and start times t (n,) of the self-consistency rows.

    Levels k = 1..min_step_log2 (d = 2^-k) are assigned round-robin from a random offset, so each
    batch covers every level; t = i * 2d with i uniform in {1, ..., 1/(2d)}.
    """
    k = (torch.arange(n) + torch.randint(min_step_log2, (1,), generator=gen)) % min_step_log2 + 1
    d = 2.0 ** -k.float()
    i = torch.floor(torch.rand(n, generator=gen) * (0.5 / d)) + 1   # 1 .. 1/(2d)
    return d, (i * 2 * d).clamp(max=1.0)


@torch.no_grad()
def shortcut_targets(student, teacher, x_s, x_l, t, d, views, cfg, category=None):
    """Targets (v_shape, v_layout) for one step of size 2d from two steps of size d, (B, ...) each.

    Rows at the smallest d query only the teacher (guided), the others only the student; both are given
    the rows' `category` (a model that conditions on it, `condition_category`).
    """
    pick = lambda rows: None if category is None else category[rows]
    base = d <= 2.0 ** -cfg.min_step_log2 + 1e-9                       # (B,) smallest level: teacher
    rows_t, rows_s = base.nonzero()[:, 0], (~base).nonzero()[:, 0]
    c_t = teacher.encode_condition(views[rows_t], category=pick(rows_t)) if len(rows_t) else None
    c_s = student.encode_condition(views[rows_s], category=pick(rows_s)) if len(rows_s) else None
    interval = getattr(cfg, "cfg_interval", (0.0, 1.0))

    def u(xs, xl, tt):
        vs, vl = torch.empty_like(xs), torch.empty_like(xl)
        if len(rows_t):
            r = rows_t
            w = guidance_weight(tt[r], cfg.cfg_weight, interval)
            vs[r], vl[r] = guided(teacher, xs[r], xl[r], tt[r], c_t, teacher.null_condition(c_t), w)
        if len(rows_s):
            r = rows_s
            vs[r], vl[r] = student(xs[r], xl[r], tt[r], c_s, d[r])
        return vs, vl

    v1s, v1l = u(x_s, x_l, t)
    dd = d.view(-1, *[1] * (x_s.dim() - 1))
    v2s, v2l = u(x_s - dd * v1s, x_l - d[:, None] * v1l, t - d)
    return (v1s + v2s) / 2, (v1l + v2l) / 2


@torch.no_grad()
def teacher_start_targets(teacher, eps_s, eps_l, views, cfg, span: float, category=None):
    """Targets (v_shape, v_layout) for one step of size `span` from the noise (eps_s, eps_l) at t = 1:
    (x_1 - x_{1-span}) / span, where x_{1-span} is the teacher's guided Euler integration over
    [1 - span, 1] in cfg.teacher_start_steps steps of the flow sampler's rescaled grid."""
    settings = getattr(teacher, "sample_config", None) or SampleConfig()
    grid = time_grid(cfg.teacher_start_steps, settings.rescale_t, end=1.0 - span)
    x_s, x_l = guided_euler(teacher, teacher.encode_condition(views, category=category), eps_s, eps_l, grid,
                            cfg.cfg_weight, getattr(cfg, "cfg_interval", (0.0, 1.0)))
    return (eps_s - x_s) / span, (eps_l - x_l) / span


def distill_step(cfg, model, teacher):
    """Return step_fn(objective, batch, gen) -> (loss, logs) mixing flow and shortcut rows."""
    def step_fn(objective, batch, gen):
        x0_s, x0_l = data_targets(model, batch)
        B = x0_s.shape[0]
        n_sc = int(round(B * cfg.shortcut_frac))
        t, eps_s, eps_l, drop = draw_noise(model, B, gen, cfg, x0_s.device)
        n_ts = int(round(n_sc * getattr(cfg, "teacher_start_frac", 0.0)))  # the last rows: teacher start
        d_sc, t_sc = shortcut_times(n_sc, gen, cfg.min_step_log2)
        given = condition_category(model, batch, gen)
        part = lambda rows: None if given is None else given[rows]
        dev = x0_s.device
        rows = torch.arange(B, device=dev)
        is_sc, is_ts = rows >= B - n_sc, rows >= B - n_ts
        d = torch.zeros(B, device=dev)
        d[is_sc], t[is_sc] = d_sc.to(dev), t_sc.to(dev)
        d[is_ts], t[is_ts] = 0.5 / SHORTCUT_STEPS, 1.0                 # x_1 = eps: pure noise
        fb = make_flow_batch(x0_s, x0_l, t, eps_s, eps_l)
        views = views_to_tensor(batch["views"])
        d_in = 2 * d                                                     # flow rows: d = 0
        if n_sc:
            v_s, v_l = fb.v_shape.clone(), fb.v_layout.clone()
            sc, ts = slice(B - n_sc, B - n_ts), slice(B - n_ts, B)
            if n_sc > n_ts:
                v_s[sc], v_l[sc] = shortcut_targets(model, teacher, fb.x_shape[sc], fb.x_layout[sc], t[sc], d[sc],
                                                    views[sc], cfg, part(sc))
            if n_ts:
                v_s[ts], v_l[ts] = teacher_start_targets(teacher, eps_s[ts], eps_l[ts], views[ts], cfg,
                                                         1.0 / SHORTCUT_STEPS, part(ts))
            fb = FlowBatch(fb.x_shape, fb.x_layout, t, v_s, v_l)
        drop = drop & ~is_sc
        m = objective(views, drop, fb, batch["layout_mask"], d_in, given=given)
        logs = {"loss": m.mean().item(), "loss/flow": m[~is_sc].mean().item() if n_sc < B else 0.0,
                "loss/shortcut": m[is_sc & ~is_ts].mean().item() if n_sc > n_ts else 0.0}
        if n_ts:
            logs["loss/teacher_start"] = m[is_ts].mean().item()
        return m.mean(), logs
    return step_fn


def train(cfg):
    """Distill cfg.init into a shortcut model (the frozen teacher is the same checkpoint)."""
    if not cfg.init:
        raise ValueError("distill needs --init (the checkpoint to distill, e.g. the DPO result)")
    if cfg.category_loss > 0:
        raise ValueError("--category-loss trains in the flow-matching stages (pretrain, sft); distill keeps its "
                         "parent's category head as it is")
    if cfg.replay:
        raise ValueError("distill draws its batches from every --data source alike, so it has no --replay: give "
                         "the data to replay as one more --data")
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
    manifest["sampler"].update(shortcut_steps=SHORTCUT_STEPS)
    manifest.update(teacher=parent["parent"], teacher_hash=parent["parent_hash"], cfg_weight=cfg.cfg_weight)
    ema = fit(cfg, model, objective, data, distill_step(cfg, model, teacher), manifest, device, rank, world)
    return model, ema
