"""Objective modules: what DDP wraps. Each forward returns the per-sample flow error m, (B,)."""
from __future__ import annotations

from dataclasses import fields

import torch
import torch.nn as nn
import torch.nn.functional as F

from .flow import FlowBatch, logit_normal, make_flow_batch, per_sample_mse
from .layout import encode_layout
from .data.views import views_to_tensor


class FlowObjective(nn.Module):
    """m = sum_k w_k ||v^k - v_theta^k(x_t, c, t, d)||^2 per sample (see flow.per_sample_mse)."""

    def __init__(self, model, weights: dict):
        super().__init__()
        self.model, self.weights = model, weights

    def forward(self, views, drop, fb: FlowBatch, layout_mask, d=None, repeat: int = 1, category=None, given=None,
                extra=None):
        """views (B', 2, 4, S, S) with B' = B / repeat: rows that share a condition encode it once.

        `given` (B',): the category each row is conditioned on, for a model with cfg.category_condition
        (`condition_category`); None gives it 'unknown'.

        With `category` (B,) (indices into the model's categories, -1 = unknown), also return the
        per-row cross-entropy of the category head, 0 where the row has no category or was dropped.

        `extra` (views, drop, FlowBatch, layout_mask, given) of E more rows, each with its own condition (DPO's
        replayed rows): their errors follow the B rows' in m, from the same forward pass (DDP sees one forward).
        """
        cond = self.model.encode_condition(views, drop, given)
        ce = None
        if category is not None:
            keep = (category >= 0) & ~drop
            ce = F.cross_entropy(self.model.category_logits(cond).float(), category.clamp_min(0), reduction="none")
            ce = ce * keep
        if repeat > 1:
            cond = torch.cat([cond] * repeat)
        if extra is not None:
            if d is not None or category is not None:
                raise ValueError("extra rows are for the flow-matching error alone (no shortcut d, no category head)")
            e_views, e_drop, e_fb, e_mask, e_given = extra
            cond = torch.cat([cond, self.model.encode_condition(e_views, e_drop, e_given)])
            fb = FlowBatch(**{f.name: torch.cat([getattr(fb, f.name), getattr(e_fb, f.name)]) for f in fields(fb)})
            layout_mask = torch.cat([layout_mask, e_mask])
        ps, pl = self.model(fb.x_shape, fb.x_layout, fb.t, cond, d)
        m = per_sample_mse(ps, pl, fb, layout_mask, self.weights)
        return m if category is None else (m, ce)


@torch.no_grad()
def data_targets(model, batch: dict, occ_key: str = "occ"):
    """(x0_shape (B,C,g,g,g), x0_layout (B,10)) of a batch: the scaled VAE latent and the layout token.

    Uses the cached latent (see latents.py) when the batch has one, else encodes the occupancy.
    """
    key = occ_key.replace("occ", "latent")
    x0 = batch[key] if key in batch else model.vae.to_latent(batch[occ_key])
    lay = encode_layout(batch["rotation"], batch["translation"], batch["scale"],
                        model.cfg.translation_offset, model.cfg.translation_scale)
    return x0, lay


def condition_category(model, batch: dict, gen: torch.Generator | None = None):
    """The (B,) categories a batch is conditioned on (cfg.category_condition), or None when the model takes none.

    From the batch's `category` array (`trainer.data.loader.attach_categories`; -1 = unknown). With `gen` (training),
    each row's category turns to unknown with probability cfg.category_dropout, drawn after the step's noise, so a
    model without the condition draws exactly what it drew before.
    """
    if not model.cfg.category_condition:
        return None
    if "category" not in batch:
        raise ValueError("the model conditions on the category, but the batch has none: attach_categories first")
    category = batch["category"].long()
    if gen is not None:
        unknown = (torch.rand(len(category), generator=gen) < model.cfg.category_dropout).to(category.device)
        category = torch.where(unknown, -1, category)
    return category


def draw_noise(model, n: int, gen: torch.Generator, cfg, device):
    """t ~ logit-normal (n,), eps_shape, eps_layout, condition-drop mask (n,), all from `gen` on the CPU."""
    c, g = model.cfg.vae_channels, model.cfg.latent_grid
    t = logit_normal(n, cfg.tau_mean, cfg.tau_std, gen)
    eps_s = torch.randn(n, c, g, g, g, generator=gen)
    eps_l = torch.randn(n, 10, generator=gen)
    drop = torch.rand(n, generator=gen) < model.cfg.cond_dropout
    return t.to(device), eps_s.to(device), eps_l.to(device), drop.to(device)


def flow_inputs(model, batch: dict, gen: torch.Generator, cfg):
    """Everything FlowObjective needs for one SFT step: (views, drop, FlowBatch, layout_mask)."""
    x0_s, x0_l = data_targets(model, batch)
    t, eps_s, eps_l, drop = draw_noise(model, x0_s.shape[0], gen, cfg, x0_s.device)
    return views_to_tensor(batch["views"]), drop, make_flow_batch(x0_s, x0_l, t, eps_s, eps_l), batch["layout_mask"]
