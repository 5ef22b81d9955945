import numpy as np
import torch

from trainer.checkpoints import load_checkpoint
from trainer.data.loader import open_dataset
from trainer.latents import attach_latents
from trainer.objectives import data_targets


def test_cached_latents_equal_fresh_encodings(tiny_ckpt, tiny_cache):
    model, _ = load_checkpoint(tiny_ckpt)
    ds = open_dataset(str(tiny_cache), 16, 32).subset(range(5))
    attach_latents(model, ds, batch_size=2, progress=False)
    assert ds.arrays["latent"].shape == (5, 4, 4, 4, 4)
    batch = ds.batch([1, 3])
    cached, _ = data_targets(model, batch)
    del batch["latent"]
    with torch.no_grad():
        fresh, _ = data_targets(model, batch)
    assert torch.allclose(cached, fresh, atol=1e-5)


def test_repeated_occupancies_are_encoded_once_and_placed_in_row_order(tiny_ckpt, tiny_cache):
    model, _ = load_checkpoint(tiny_ckpt)
    ds = open_dataset(str(tiny_cache), 16, 32).subset([3, 0, 3, 1, 0])
    calls = []
    encode = model.vae.to_latent
    model.vae.to_latent = lambda occ: calls.append(len(occ)) or encode(occ)
    attach_latents(model, ds, batch_size=8, progress=False)
    assert sum(calls) == len({bytes(r) for r in ds.arrays["occ"]})
    with torch.no_grad():
        fresh = encode(ds.batch(range(5))["occ"])
    assert len(ds.arrays["latent"].table) == sum(calls) < 5       # stored once per distinct occupancy
    assert torch.allclose(torch.from_numpy(np.asarray(ds.arrays["latent"])), fresh, atol=1e-5)
