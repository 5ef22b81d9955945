"""Image encoders: two views (crop around the mask, full image), each RGB + mask, -> tokens.

Input `views` is (B, 2, 4, S, S) float in [0, 1]: view 0 = crop, view 1 = full image;
channels = RGB + mask. Output is (B, N, dim) condition tokens (N = 2 * (S/8)^2 for the CNN).
"""
from __future__ import annotations

import os

import torch
import torch.nn as nn
import torch.nn.functional as F


class CNNEncoder(nn.Module):
    """A small CNN trained from scratch: three stride-2 stages, S -> S/8, shared by both views."""

    def __init__(self, dim: int, image_size: int, width: int = 32):
        super().__init__()
        w = width
        self.net = nn.Sequential(
            nn.Conv2d(4, w, 3, stride=2, padding=1), nn.GroupNorm(min(8, w), w), nn.SiLU(),
            nn.Conv2d(w, 2 * w, 3, stride=2, padding=1), nn.GroupNorm(min(8, 2 * w), 2 * w), nn.SiLU(),
            nn.Conv2d(2 * w, 4 * w, 3, stride=2, padding=1), nn.GroupNorm(min(8, 4 * w), 4 * w), nn.SiLU(),
            nn.Conv2d(4 * w, dim, 1),
        )
        n = (image_size // 8) ** 2
        self.pos = nn.Parameter(torch.randn(1, 1, n, dim) * 0.02)   # (1, 1, hw, D)
        self.view = nn.Parameter(torch.randn(1, 2, 1, dim) * 0.02)  # (1, V, 1, D)

    def forward(self, views: torch.Tensor) -> torch.Tensor:
        B, V, C, S, _ = views.shape
        f = self.net(views.reshape(B * V, C, S, S))                  # (B*V, D, S/8, S/8)
        f = f.flatten(2).transpose(1, 2).reshape(B, V, -1, f.shape[1])  # (B, V, hw, D)
        return (f + self.pos + self.view).reshape(B, -1, f.shape[-1])     # (B, V*hw, D)


class DINOv2Encoder(nn.Module):
    """A frozen local DINOv2 backbone (TorchScript or pickled module); never downloaded.

    The module must map (B, 3, H, W) ImageNet-normalised images to patch tokens (B, N, D_in),
    either directly or via `forward_features(x)["x_norm_patchtokens"]` (the official repo's API).
    The mask enters as a learned embedding added to the patch tokens it covers.
    """

    MEAN = (0.485, 0.456, 0.406)
    STD = (0.229, 0.224, 0.225)

    def __init__(self, dim: int, path: str, image_size: int):
        super().__init__()
        if not path or not os.path.exists(path):
            raise FileNotFoundError(
                f"DINOv2 checkpoint {path!r} not found. Pass a local file with --dinov2-path, "
                "or use the default encoder 'cnn'. Nothing is downloaded at run time.")
        try:
            backbone = torch.jit.load(path, map_location="cpu")
        except RuntimeError:
            backbone = torch.load(path, map_location="cpu", weights_only=False)
        self.backbone = backbone.eval()
        for p in self.backbone.parameters():      # (ScriptModules have no requires_grad_())
            p.requires_grad_(False)
        self.register_buffer("mean", torch.tensor(self.MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(self.STD).view(1, 3, 1, 1), persistent=False)
        width = self._tokens(torch.zeros(1, 3, image_size, image_size)).shape[-1]   # D_in of the backbone
        self.proj = nn.Linear(width, dim)
        self.mask_embed = nn.Parameter(torch.zeros(dim))
        self.view = nn.Parameter(torch.randn(1, 2, 1, dim) * 0.02)

    @torch.no_grad()
    def _tokens(self, rgb: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> patch tokens (B, N, D_in)."""
        rgb = (rgb - self.mean) / self.std
        out = self.backbone.forward_features(rgb) if hasattr(self.backbone, "forward_features") else self.backbone(rgb)
        return out["x_norm_patchtokens"] if isinstance(out, dict) else out

    def forward(self, views: torch.Tensor) -> torch.Tensor:
        B, V, C, S, _ = views.shape
        x = views.reshape(B * V, C, S, S)
        tok = self._tokens(x[:, :3])                                          # (B*V, N, D_in)
        n = int(tok.shape[1] ** 0.5)
        m = F.adaptive_avg_pool2d(x[:, 3:4], n).flatten(1)[..., None]         # (B*V, N, 1)
        tok = self.proj(tok.float()) + m * self.mask_embed
        return (tok.reshape(B, V, -1, tok.shape[-1]) + self.view).reshape(B, -1, tok.shape[-1])


def build_encoder(cfg) -> nn.Module:
    """Return the encoder named by `cfg.encoder`."""
    if cfg.encoder == "dinov2":
        return DINOv2Encoder(cfg.dim, cfg.dinov2_path, cfg.image_size)
    return CNNEncoder(cfg.dim, cfg.image_size, cfg.encoder_width)
