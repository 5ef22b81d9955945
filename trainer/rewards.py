"""The implicit reward of a DPO checkpoint, for ranking many samples of one condition (best-of-N).

    reward(x | c) = -(beta / 2) * E_{t, eps} [ m_theta(x, c, t, eps) - m_ref(x, c, t, eps) ]

estimated with `draws` shared (t, eps) pairs: the same draws for every candidate (common random
numbers), so the ranking is not swamped by the noise of the estimate. Higher is better.
t is drawn as DPO drew it (its logit-normal), the modality weights are DPO's, and only the shape
is scored by default: DPO's pairs differ in shape and carry no pose, so its layout stream never
learned a preference and would only add noise to the ranking.
"""
from __future__ import annotations

import numpy as np
import torch

from .checkpoints import load_checkpoint, read_manifest, resolve
from .config import DPOConfig
from .data.views import make_views, views_to_tensor
from .flow import FlowBatch, interpolate, per_sample_mse
from .layout import LAYOUT_DIM
from .sampling import SampleResult

WEIGHTS = {"shape": 1.0, "rotation": 0.1, "translation": 1.0, "scale": 0.1}


def reward_settings(manifest: dict) -> dict:
    """implicit_reward's keyword arguments from a DPO manifest: its tau distribution and modality weights."""
    cfg = manifest.get("config", {})
    weights = {k: float(cfg.get(f"w_{k}", v)) for k, v in WEIGHTS.items()}
    return {"tau_mean": float(cfg.get("tau_mean", 1.0)), "tau_std": float(cfg.get("tau_std", 1.0)), "weights": weights}


def reward_beta(manifest: dict) -> float:
    """The beta that scales a checkpoint's implicit reward: its DPO run's, or DPO's default.

    A run at beta 0 (`trainer dpo --beta 0`: the SFT anchor alone, no preference term) would make every
    reward 0 and every pair a tie, as would a checkpoint DPO did not train; beta scales a reward but not its
    sign, so both are read at the default, and the accuracy is what any positive beta would give.
    """
    beta = float(manifest.get("beta") or 0.0)
    return beta if beta > 0 else float(DPOConfig().beta)


def load_reward_models(dpo_ckpt: str, device="cpu"):
    """(policy, reference, beta) from a DPO checkpoint, whose manifest names its reference."""
    path = resolve(dpo_ckpt)
    manifest = read_manifest(path)
    if "ref" not in manifest:
        raise ValueError(f"{path} is not a DPO checkpoint (its manifest names no reference)")
    policy, _ = load_checkpoint(path, device=device)
    reference, _ = load_checkpoint(manifest["ref"], device=device)
    return policy, reference, reward_beta(manifest)


@torch.no_grad()
def implicit_reward(policy, reference, image: np.ndarray, mask: np.ndarray, samples, beta: float,
                    draws: int = 8, seed: int = 0, weights: dict | None = None, tau_mean: float = 1.0,
                    tau_std: float = 1.0, with_layout: bool = False, category: str | None = None) -> np.ndarray:
    """(N,) rewards of N candidate shapes for one image + mask.

    `samples` is a list of SampleResult or an (N, G, G, G) occupancy array. Occupancies are
    thresholded at 0.5 and re-encoded with the VAE, exactly as DPO saw its training pairs. The
    pose of SampleResults is scored only with `with_layout`. `weights` (modality weights) and
    `tau_mean`/`tau_std` (the logit-normal of t) should be the DPO run's: see `reward_settings`.
    `category`: the object's category, for models that condition on it (as they sampled the candidates).
    """
    weights = weights or WEIGHTS
    device = next(policy.parameters()).device
    results = isinstance(samples, (list, tuple)) and samples and isinstance(samples[0], SampleResult)
    if results and with_layout:
        occ = np.stack([s.voxels for s in samples])
        layout = torch.as_tensor(np.stack([s.layout for s in samples]), dtype=torch.float32, device=device)
        layout_mask = torch.ones(len(samples), 3, device=device)
    else:
        occ = np.stack([s.voxels for s in samples]) if results else np.asarray(samples) >= 0.5
        layout = torch.zeros(len(occ), LAYOUT_DIM, device=device)
        layout_mask = torch.zeros(len(occ), 3, device=device)
    N = len(occ)
    views = views_to_tensor(make_views(np.asarray(image), np.asarray(mask, bool), policy.cfg.image_size))
    views = views[None].to(device).expand(N, -1, -1, -1, -1)
    x0 = policy.vae.to_latent(torch.as_tensor(occ, dtype=torch.float32, device=device))
    ids = policy.category_ids([category] * N)
    cond_p, cond_r = policy.encode_condition(views, category=ids), reference.encode_condition(views, category=ids)
    g = torch.Generator().manual_seed(seed)
    total = torch.zeros(N, device=device)
    for _ in range(draws):
        t = torch.sigmoid(torch.randn(1, generator=g) * tau_std + tau_mean).expand(N).to(device)
        eps_s = torch.randn(1, *x0.shape[1:], generator=g).to(device).expand_as(x0)
        eps_l = torch.randn(1, LAYOUT_DIM, generator=g).to(device).expand_as(layout)
        fb = FlowBatch(interpolate(x0, eps_s, t), interpolate(layout, eps_l, t), t, eps_s - x0, eps_l - layout)
        m = per_sample_mse(*policy(fb.x_shape, fb.x_layout, t, cond_p), fb, layout_mask, weights)
        r = per_sample_mse(*reference(fb.x_shape, fb.x_layout, t, cond_r), fb, layout_mask, weights)
        total += m - r
    return (-0.5 * beta * total / draws).cpu().numpy()


class ImplicitReward:
    """reward(image, mask, samples) -> (N,) for best-of-N: a DPO checkpoint and its reference, loaded once."""

    def __init__(self, dpo_ckpt: str, device="cpu", draws: int = 8):
        self.policy, self.reference, self.beta = load_reward_models(dpo_ckpt, device)
        self.settings = reward_settings(read_manifest(resolve(dpo_ckpt)))
        self.draws = draws

    def __call__(self, image: np.ndarray, mask: np.ndarray, samples, seed: int = 0,
                 category: str | None = None) -> np.ndarray:
        return implicit_reward(self.policy, self.reference, image, mask, samples, self.beta, self.draws, seed,
                               category=category, **self.settings)

    def rank(self, image: np.ndarray, mask: np.ndarray, samples, seed: int = 0) -> list[int]:
        """Indices of `samples`, best first."""
        return [int(i) for i in np.argsort(-self(image, mask, samples, seed), kind="stable")]
