"""Sampling: Euler integration from noise to data (the time convention: see trainer.flow).

Flow mode:      rescaled grid t_i' = r u_i / (1 + (r - 1) u_i), u_i = 1 - i/steps (TRELLIS), and
                classifier-free guidance v = v_u + w (v_c - v_u) applied only for t in the
                guidance interval [lo, hi] (conditional velocity elsewhere).
Shortcut mode:  a uniform grid of `steps` steps of size d = 1/steps, one forward pass per step,
                the model told d (CFG is baked in by distillation).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from .config import SampleConfig
from .data.views import make_views, views_to_tensor
from .layout import LAYOUT_DIM, decode_layout


@dataclass
class SampleResult:
    """One sample: occupancy probabilities on the G^3 grid (object frame, unit cube) and its pose."""

    occupancy: np.ndarray    # (G, G, G) float32 in [0, 1]; threshold 0.5 for voxels
    rotation: np.ndarray     # (3, 3)
    translation: np.ndarray  # (3,)   camera coordinates (OpenCV)
    scale: float
    latent: np.ndarray       # (C, g, g, g) scaled VAE latent (input of implicit_reward)
    layout: np.ndarray       # (10,) layout token

    @property
    def voxels(self) -> np.ndarray:
        """(G, G, G) bool occupancy at threshold 0.5."""
        return self.occupancy >= 0.5


def time_grid(steps: int, rescale: float = 1.0, end: float = 0.0) -> torch.Tensor:
    """(steps + 1,) times from 1 to `end`; rescale r > 1 spends more steps near the noise end.

    The grid is t = r u / (1 + (r - 1) u) on uniform u, so a grid that stops at `end` > 0 has the
    spacing of the part of a full grid above `end`.
    """
    u_end = end / (rescale - (rescale - 1) * end)
    u = torch.linspace(1.0, u_end, steps + 1, dtype=torch.float64)
    return (rescale * u / (1 + (rescale - 1) * u)).float()


def velocity(model, x_s, x_l, t: float, cond, uncond=None, w: float = 1.0, d: float | None = None):
    """Guided velocity at scalar time t for a batch; one batched forward when CFG is on."""
    B = x_s.shape[0]
    tt = torch.full((B,), t, device=x_s.device)
    dd = None if d is None else torch.full((B,), d, device=x_s.device)
    if uncond is None or w == 1.0:
        return model(x_s, x_l, tt, cond, dd)
    vs, vl = model(torch.cat([x_s, x_s]), torch.cat([x_l, x_l]), torch.cat([tt, tt]),
                   torch.cat([cond, uncond]), None if dd is None else torch.cat([dd, dd]))
    (vs_c, vs_u), (vl_c, vl_u) = vs.chunk(2), vl.chunk(2)
    return vs_u + w * (vs_c - vs_u), vl_u + w * (vl_c - vl_u)


@torch.no_grad()
def guided_euler(model, cond, x_s, x_l, grid: torch.Tensor, w: float, interval):
    """Euler steps along the decreasing times `grid`, with CFG weight w for t in the guidance
    interval [lo, hi] and the conditional velocity elsewhere (the flow sampler's integration)."""
    uncond = model.null_condition(cond)
    lo, hi = interval
    grid = grid.tolist()
    for t, t_next in zip(grid[:-1], grid[1:]):
        v_s, v_l = velocity(model, x_s, x_l, t, cond, uncond, w if lo <= t <= hi else 1.0)
        x_s, x_l = x_s - (t - t_next) * v_s, x_l - (t - t_next) * v_l
    return x_s, x_l


@torch.no_grad()
def integrate(model, cond: torch.Tensor, noise_shape: torch.Tensor, noise_layout: torch.Tensor,
              settings: SampleConfig, mode: str = "flow", steps: int | None = None):
    """Integrate from the given noise at t = 1 to t = 0; return (x0_shape, x0_layout)."""
    x_s, x_l = noise_shape, noise_layout
    if mode == "flow":
        grid = time_grid(steps or settings.steps, settings.rescale_t)
        x_s, x_l = guided_euler(model, cond, x_s, x_l, grid, settings.cfg, settings.cfg_interval)
    elif mode == "shortcut":
        n = steps or settings.shortcut_steps
        grid = time_grid(n).tolist()
        for t, t_next in zip(grid[:-1], grid[1:]):
            v_s, v_l = velocity(model, x_s, x_l, t, cond, d=t - t_next)
            x_s, x_l = x_s - (t - t_next) * v_s, x_l - (t - t_next) * v_l
    else:
        raise ValueError(f"unknown sampling mode {mode!r}: use 'flow' or 'shortcut'")
    return x_s, x_l


def initial_noise(model, n: int, seed: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Noise for n samples, fixed by the seed (generated on the CPU so every device agrees)."""
    g = torch.Generator().manual_seed(seed)
    c, lat = model.cfg.vae_channels, model.cfg.latent_grid
    return (torch.randn(n, c, lat, lat, lat, generator=g).to(device),
            torch.randn(n, LAYOUT_DIM, generator=g).to(device))


@torch.no_grad()
def generate(model, views: torch.Tensor, noise_shape: torch.Tensor, noise_layout: torch.Tensor,
             settings: SampleConfig | None = None, mode: str = "flow", steps: int | None = None,
             unconditional: bool = False, category: torch.Tensor | None = None):
    """views (B, 2, 4, S, S) float + noise -> occupancy probs (B,G,G,G), R (B,3,3), t (B,3), s (B,), latent, layout.

    category (B,): the rows' categories for a model that conditions on one (`FlowModel.category_ids`; None or -1 =
    unknown); a model without the condition ignores it.

    unconditional: sample with the learned null condition instead of the views' (the branch CFG
    dropout trains; CFG then has nothing to amplify, v = v_u).
    """
    settings = settings or getattr(model, "sample_config", None) or SampleConfig()
    if not settings.temperature > 0:
        raise ValueError(f"the sampler's temperature scales its noise: it must be above 0, got {settings.temperature}")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    cond = model.encode_condition(views.to(device), category=category)   # ignored by a model without the token
    cond = model.null_condition(cond) if unconditional else cond
    x_s, x_l = integrate(model, cond, noise_shape.to(device) * settings.temperature,
                         noise_layout.to(device) * settings.temperature, settings, mode, steps)
    probs = model.vae.from_latent(x_s)
    R, t, s = decode_layout(x_l, model.cfg.translation_offset, model.cfg.translation_scale)
    model.train(was_training)
    return probs, R, t, s, x_s, x_l


def at_temperature(model, temperature: float):
    """Set the model's sampler temperature (SampleConfig.temperature) unless it is 0 (keep the checkpoint's)."""
    if temperature:
        if not temperature > 0:
            raise ValueError(f"--temperature scales the sampler's noise: give a number above 0 (or 0 for the "
                             f"checkpoint's), got {temperature}")
        model.sample_config = replace(getattr(model, "sample_config", None) or SampleConfig(), temperature=temperature)
    return model


def sample_views(model, views: torch.Tensor, seed: int, settings: SampleConfig | None = None,
                 mode: str = "flow", steps: int | None = None, unconditional: bool = False,
                 category: torch.Tensor | None = None):
    """Like `generate`, with the noise of the whole batch drawn from one seed."""
    return generate(model, views, *initial_noise(model, views.shape[0], seed, "cpu"), settings, mode, steps,
                    unconditional, category)


def sample(model, image: np.ndarray, mask: np.ndarray, n: int, seed: int, steps: int | None = None,
           mode: str = "flow", settings: SampleConfig | None = None, batch_size: int = 16,
           category: str | None = None) -> list[SampleResult]:
    """Draw n samples of (shape, pose) for one object: image (H,W,3) uint8, mask (H,W) bool.

    category: the object's category name (Stage 1's label), for a model that conditions on one; a name outside
    its vocabulary, or None, is 'unknown'. A model without the condition ignores it.

    Sample i of seed s is the same whatever n is (one noise seed per sample), so callers can
    extend a set of candidates; the work is batched in chunks of `batch_size`.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if not np.asarray(mask).any():
        raise ValueError("mask is empty: the object must cover at least one pixel")
    views = views_to_tensor(make_views(np.asarray(image), np.asarray(mask, dtype=bool), model.cfg.image_size))
    out: list[SampleResult] = []
    for start in range(0, n, batch_size):
        noise = [initial_noise(model, 1, seed * 1_000_003 + i, "cpu") for i in range(start, min(n, start + batch_size))]
        k = len(noise)
        ids = model.category_ids([category] * k)
        probs, R, t, s, x_s, x_l = generate(model, views[None].expand(k, -1, -1, -1, -1),
                                            torch.cat([a for a, _ in noise]), torch.cat([b for _, b in noise]),
                                            settings, mode, steps, category=ids)
        out += [SampleResult(probs[i].float().cpu().numpy(), R[i].cpu().numpy(), t[i].cpu().numpy(), float(s[i]),
                             x_s[i].cpu().numpy(), x_l[i].cpu().numpy()) for i in range(k)]
    return out
