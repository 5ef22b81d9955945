"""Latent caching: once the VAE is frozen, encode every occupancy of a dataset once.

Encoding 32^3 occupancy with the 3D-conv VAE costs about as much as the transformer's forward
pass on the CPU, so training from cached latents (as latent-diffusion trainers do) roughly
halves the step time. The cache is tied to the VAE weights that made it.
Synthetic data draws many renders of each library shape, so only the distinct occupancies
are encoded (a few hundred for tens of thousands of rows); the encoder is deterministic
(the latent is the posterior mean), so the result is the same as encoding every row.
"""
from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from .data.pack import unpack_occ


@torch.no_grad()
def attach_latents(model, dataset, batch_size: int = 32, progress: bool = True):
    """Add latent (and latent_rejected for pairs) arrays, (N, C, g, g, g) float32, to the dataset in place."""
    device = next(model.parameters()).device
    was = model.training
    model.eval()
    for occ_key in [k for k in dataset.arrays if k.startswith("occ")]:
        key = occ_key.replace("occ", "latent")
        packed, inverse = np.unique(dataset.arrays[occ_key], axis=0, return_inverse=True)   # (U, G^3/8), (N,)
        parts = []
        for s in tqdm(range(0, len(packed), batch_size), desc=f"encode {key}", disable=not progress):
            occ = torch.from_numpy(unpack_occ(packed[s:s + batch_size], dataset.grid)).float().to(device)
            parts.append(model.vae.to_latent(occ).float().cpu().numpy())
        dataset.arrays[key] = np.concatenate(parts)[inverse.reshape(-1)]
    model.train(was)
    return dataset
