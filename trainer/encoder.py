"""Image encoders: two views (crop around the mask, full image), each RGB + mask, -> tokens.

Input `views` is (B, 2, 4, S, S) float in [0, 1]: view 0 = crop, view 1 = full image;
channels = RGB + mask. Output is (B, N, dim) condition tokens (N = 2 * (S/8)^2 for the CNNs).

'cnn' is the first encoder: three stride-2 convolutions (a 15 px receptive field), a 0.02-scale
learned position table, no context between tokens. 'attn' keeps its token grid and cost class
but can see a shape: a residual block after the third stride-2 stage (receptive field 47 px
of the 64 px view), fixed 2D sin-cos positions of O(1) size (a 0.02-scale table is drowned by
the features, as the flow model's 3D table was, see trainer.model.sincos_3d), and pre-norm
self-attention among the tokens of both views, so a token of the crop can read the full view.

'effnet' (trainer.effnet) is a frozen ImageNet EfficientNet-Lite0 with a trained head; it beats
'cnn' (held-out vIoU +0.117 +- 0.017 paired, shuffled-image gap 0.145 against 0.053, trainer/README.md).

Measured, 'attn' does not yet pay its way: 'cnn' stays the default. Same upright caches (4096
renders + 4096 composites), same VAE, 500 and 900 flow steps of 32 at lr 4e-4, then 64 novel
held-out composites x seeds 0 and 1 from the same noise (2 cores shared, torch 2.13.0+cpu):
  shuffled-image gap, vIoU   cnn 0.034 +- 0.014 (500) 0.054 +- 0.019 (900)
                             attn -0.000 +- 0.006 (500) 0.008 +- 0.009 (900)
  attn - cnn, paired         own-image vIoU -0.033 +- 0.010 (500) -0.034 +- 0.015 (900)
                             gap -0.035 +- 0.012 (500) -0.046 +- 0.019 (900)
Not yet known why. It is not the positions' size or the final LayerNorm: a variant without the
LayerNorm and with the positions scaled by 0.1 was as flat at 500 steps (gap -0.004 +- 0.003;
own-image vIoU -0.046 +- 0.011 against 'cnn'), which leaves the attention layer or the
residual block as suspects.
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


def sincos_2d(n: int, dim: int) -> torch.Tensor:
    """(n^2, dim) fixed sin-cos features of an n x n token grid, dim/2 per axis (rows then columns), zero-padded."""
    per = (dim // 4) * 2                                                   # sin + cos features per axis
    omega = 1.0 / 10000 ** (torch.arange(per // 2, dtype=torch.float64) / (per // 2))
    ys, xs = torch.meshgrid(torch.arange(n, dtype=torch.float64), torch.arange(n, dtype=torch.float64), indexing="ij")
    feats = [torch.cat([torch.sin(a.reshape(-1, 1) * omega), torch.cos(a.reshape(-1, 1) * omega)], 1) for a in (ys, xs)]
    out = torch.cat(feats, 1)
    return F.pad(out, (0, dim - out.shape[1])).float()


class ResBlock(nn.Module):
    """x + conv(SiLU(GN(conv(SiLU(GN(x)))))), 3x3 convolutions, the last one zero-initialised."""

    def __init__(self, w: int):
        super().__init__()
        self.net = nn.Sequential(nn.GroupNorm(min(8, w), w), nn.SiLU(), nn.Conv2d(w, w, 3, padding=1),
                                 nn.GroupNorm(min(8, w), w), nn.SiLU(), nn.Conv2d(w, w, 3, padding=1))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, x):
        return x + self.net(x)


class AttnEncoder(nn.Module):
    """Residual CNN stem (S -> S/8, shared by both views), 2D sin-cos positions, then `layers`
    pre-norm transformer layers over the tokens of both views together."""

    def __init__(self, dim: int, image_size: int, width: int = 32, heads: int = 4, layers: int = 1):
        super().__init__()
        w = width
        down = lambda cin, cout: nn.Conv2d(cin, cout, 3, stride=2, padding=1)
        # One residual block, at S/8: per batch of 32 cpu-preset views it costs 2.4 GFLOP, as one
        # more at S/4 or one attention layer would (the flow transformer's forward is 10 GFLOP).
        self.stem = nn.Sequential(down(4, w), nn.SiLU(), down(w, 2 * w), nn.SiLU(), down(2 * w, 4 * w), ResBlock(4 * w),
                                  nn.GroupNorm(min(8, 4 * w), 4 * w), nn.SiLU(), nn.Conv2d(4 * w, dim, 1))
        n = image_size // 8
        self.register_buffer("pos", sincos_2d(n, dim)[None, None], persistent=False)   # (1, 1, hw, D)
        self.view = nn.Parameter(torch.randn(1, 2, 1, dim) * 0.02)                       # (1, V, 1, D)
        layer = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=2 * dim, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)

    def forward(self, views: torch.Tensor) -> torch.Tensor:
        B, V, C, S, _ = views.shape
        f = self.stem(views.reshape(B * V, C, S, S))                          # (B*V, D, S/8, S/8)
        f = f.flatten(2).transpose(1, 2).reshape(B, V, -1, f.shape[1])        # (B, V, hw, D)
        x = (f + self.pos + self.view).reshape(B, -1, f.shape[-1])            # (B, V*hw, D)
        return self.norm(self.blocks(x))


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
    if cfg.encoder == "effnet":
        from .effnet import EffNetEncoder      # only a run that asks for it needs the backbone's packages
        return EffNetEncoder(cfg.dim, cfg.image_size)
    if cfg.encoder == "attn":
        return AttnEncoder(cfg.dim, cfg.image_size, cfg.encoder_width, cfg.heads, cfg.encoder_layers)
    return CNNEncoder(cfg.dim, cfg.image_size, cfg.encoder_width)
