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

from .data.arrays import GatheredArray, unique_rows
from .data.pack import unpack_occ


@torch.no_grad()
def attach_latents(model, dataset, batch_size: int = 32, progress: bool = True):
    """Add latent (and latent_rejected for pairs) arrays, (N, C, g, g, g) float32, to the dataset in place.

    Each distinct occupancy is encoded once and its latent stored once (a GatheredArray), and the
    occupancies are read in chunks, so a memory-mapped cache is not loaded whole.
    """
    device = next(model.parameters()).device
    was = model.training
    model.eval()
    for occ_key in [k for k in dataset.arrays if k.startswith("occ")]:
        key = occ_key.replace("occ", "latent")
        reps, inverse = unique_rows(dataset.arrays[occ_key])                   # (U,), (N,)
        parts = []
        for s in tqdm(range(0, len(reps), batch_size), desc=f"encode {key}", disable=not progress):
            occ = torch.from_numpy(unpack_occ(dataset.arrays[occ_key][reps[s:s + batch_size]], dataset.grid))
            parts.append(model.vae.to_latent(occ.float().to(device)).float().cpu().numpy())
        dataset.arrays[key] = GatheredArray(np.concatenate(parts), inverse)
    model.train(was)
    return dataset
