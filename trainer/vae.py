"""A small 3D-conv VAE for occupancy: (B, 1, G, G, G) <-> latent (B, C, G/4, G/4, G/4).

Trained with a dice reconstruction loss plus a small KL weight (the published recipe,
64^3 -> 16^3 x 8 at full size). The flow model denoises the latent mean, multiplied by
`latent_scale` (1 / std of the latents, measured after VAE training, as Stable Diffusion does)
so the flow sees unit-variance data.
"""
from __future__ import annotations

import torch
import torch.nn as nn


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(cin, cout, 3, padding=1), nn.GroupNorm(min(8, cout), cout), nn.SiLU())


class OccupancyVAE(nn.Module):
    """Encoder: two stride-2 stages (G -> G/4); decoder mirrors it with transposed convs.

    3^3 kernels throughout: 3D convolutions dominate the CPU cost, and 4^3 stride-2 kernels cost 2.4x more.
    """

    def __init__(self, channels: int = 8, width: int = 32):
        super().__init__()
        w = width
        self.encoder = nn.Sequential(
            _block(1, w), nn.Conv3d(w, 2 * w, 3, stride=2, padding=1), nn.SiLU(),       # G/2
            _block(2 * w, 2 * w), nn.Conv3d(2 * w, 4 * w, 3, stride=2, padding=1), nn.SiLU(),  # G/4
            _block(4 * w, 4 * w), nn.Conv3d(4 * w, 2 * channels, 1),
        )
        self.decoder = nn.Sequential(
            nn.Conv3d(channels, 4 * w, 3, padding=1), nn.SiLU(), _block(4 * w, 4 * w),
            nn.ConvTranspose3d(4 * w, 2 * w, 3, stride=2, padding=1, output_padding=1), nn.SiLU(), _block(2 * w, 2 * w),
            nn.ConvTranspose3d(2 * w, w, 3, stride=2, padding=1, output_padding=1), nn.SiLU(),
            nn.Conv3d(w, 1, 3, padding=1),   # no full-resolution block: it would double the VAE's cost
        )
        self.register_buffer("latent_scale", torch.ones(()))
        self.register_buffer("trained", torch.zeros((), dtype=torch.bool))

    def encode(self, occ: torch.Tensor):
        """(B, G, G, G) {0,1} -> mean, logvar, each (B, C, G/4, G/4, G/4)."""
        mean, logvar = self.encoder(occ[:, None].float() * 2 - 1).chunk(2, dim=1)
        return mean, logvar.clamp(-30, 20)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, C, g, g, g) -> occupancy logits (B, G, G, G)."""
        return self.decoder(z)[:, 0]

    def to_latent(self, occ: torch.Tensor) -> torch.Tensor:
        """Occupancy -> scaled latent mean, the data x0 of the flow."""
        return self.encode(occ)[0] * self.latent_scale

    def from_latent(self, x0: torch.Tensor) -> torch.Tensor:
        """Scaled latent -> occupancy probabilities (B, G, G, G)."""
        return torch.sigmoid(self.decode(x0 / self.latent_scale))

    def loss(self, occ: torch.Tensor, kl_weight: float, generator=None):
        """Return (loss, parts): dice(sigmoid(logits), occ) + kl_weight * KL(q(z|x) || N(0, I)).

        dice = 1 - (2 sum(p y) + 1) / (sum p + sum y + 1), per sample, averaged;
        KL = 0.5 * mean(mu^2 + exp(logvar) - 1 - logvar).
        """
        mean, logvar = self.encode(occ)
        eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        z = mean + torch.exp(0.5 * logvar) * eps
        p = torch.sigmoid(self.decode(z)).flatten(1)
        y = occ.flatten(1).float()
        dice = 1 - (2 * (p * y).sum(1) + 1) / (p.sum(1) + y.sum(1) + 1)
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).mean()
        dice = dice.mean()
        return dice + kl_weight * kl, {"vae/dice": dice.item(), "vae/kl": kl.item()}
