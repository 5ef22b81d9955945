"""Rectified-flow path and losses.

The time convention (stated here only; the rest of trainer refers to it as "see trainer.flow"):
t = 1 is noise, t = 0 is data (as TRELLIS / SAM 3D), on the straight path

    x_t = (1 - t) x_0 + t eps,    eps ~ N(0, I),    v = dx_t/dt = eps - x_0,

and sampling integrates from t = 1 down to t = 0:  x_{t - dt} = x_t - dt * v_theta(x_t, t).
Training draws t from the logit-normal: t = sigmoid(n), n ~ N(mean, std^2) (SD3).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .layout import ROT, SCALE, TRANS

MODALITIES = ("shape", "rotation", "translation", "scale")


@dataclass
class FlowBatch:
    """Noisy inputs and velocity targets of one training step."""

    x_shape: torch.Tensor   # (B, C, g, g, g)
    x_layout: torch.Tensor  # (B, 10)
    t: torch.Tensor         # (B,)
    v_shape: torch.Tensor   # (B, C, g, g, g)  target eps - x0
    v_layout: torch.Tensor  # (B, 10)


def logit_normal(n: int, mean: float, std: float, generator=None, device="cpu") -> torch.Tensor:
    """(n,) samples of sigmoid(N(mean, std^2))."""
    return torch.sigmoid(torch.randn(n, generator=generator, device=device) * std + mean)


def interpolate(x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """x_t = (1 - t) x0 + t eps, with t (B,) broadcast over the trailing dims."""
    t = t.view(-1, *([1] * (x0.dim() - 1))).to(x0.dtype)
    return (1 - t) * x0 + t * eps


def make_flow_batch(x0_shape, x0_layout, t, eps_shape, eps_layout) -> FlowBatch:
    """Build x_t and the targets v = eps - x0 for both modalities."""
    return FlowBatch(interpolate(x0_shape, eps_shape, t), interpolate(x0_layout, eps_layout, t), t,
                     eps_shape - x0_shape, eps_layout - x0_layout)


def per_sample_mse(pred_shape, pred_layout, fb: FlowBatch, layout_mask: torch.Tensor, weights: dict) -> torch.Tensor:
    """Weighted flow-matching error per sample, (B,):

        m = w_shape * mean((v^s - v_hat^s)^2) + sum_{k in rot, trans, scale} w_k * mask_k * mean_k((v^k - v_hat^k)^2)

    `layout_mask` (B, 3) is 1 where the sample has a rotation / translation / scale target, so
    shape-only data (e.g. isolated renders without placement) trains shape without layout.
    """
    m = weights["shape"] * (pred_shape.float() - fb.v_shape.float()).pow(2).flatten(1).mean(1)
    err = (pred_layout.float() - fb.v_layout.float()).pow(2)
    for i, (name, sl) in enumerate((("rotation", ROT), ("translation", TRANS), ("scale", SCALE))):
        m = m + weights[name] * layout_mask[:, i].float() * err[:, sl].mean(1)
    return m


def loss_weights(cfg) -> dict:
    """Modality weights from a TrainConfig (published table: 1.0, 0.1, 1.0, 0.1)."""
    return {"shape": cfg.w_shape, "rotation": cfg.w_rotation, "translation": cfg.w_translation, "scale": cfg.w_scale}
