import numpy as np
import pytest
import torch

from trainer.checkpoints import load_checkpoint
from trainer.rewards import implicit_reward, load_reward_models
from trainer.sampling import sample


def image_and_mask():
    image = np.full((40, 40, 3), 120, np.uint8)
    mask = np.zeros((40, 40), bool)
    mask[10:30, 12:28] = True
    return image, mask


def test_reward_is_zero_when_policy_is_reference(tiny_ckpt):
    model, _ = load_checkpoint(tiny_ckpt)
    image, mask = image_and_mask()
    occ = np.zeros((3, 16, 16, 16), np.float32)
    occ[1, 4:12, 4:12, 4:12] = 1
    r = implicit_reward(model, model, image, mask, occ, beta=100.0, draws=2)
    assert r.shape == (3,) and np.allclose(r, 0.0)


def test_reward_ranks_by_policy_improvement(tiny_ckpt):
    """A policy that fits x better than the reference gets a higher reward for x."""
    ref, _ = load_checkpoint(tiny_ckpt)
    policy, _ = load_checkpoint(tiny_ckpt)
    image, mask = image_and_mask()
    samples = sample(ref, image, mask, n=2, seed=0, steps=2)
    r = implicit_reward(policy, ref, image, mask, samples, beta=10.0, draws=2)
    assert r.shape == (2,) and np.allclose(r, 0.0)
    with torch.no_grad():                   # perturb the policy: rewards move away from zero
        policy.final["shape"].linear.bias.add_(0.5)
    r2 = implicit_reward(policy, ref, image, mask, samples, beta=10.0, draws=2)
    assert (r2 < 0).all()                   # a worse velocity everywhere lowers every reward


def test_load_reward_models_requires_a_dpo_checkpoint(tiny_ckpt):
    with pytest.raises(ValueError, match="not a DPO checkpoint"):
        load_reward_models(str(tiny_ckpt))


def test_implicit_reward_from_a_dpo_checkpoint(tmp_path, tiny_ckpt, tiny_cache):
    from trainer import dpo
    from trainer.config import DPOConfig
    from trainer.rewards import ImplicitReward
    from .test_dpo import pair_dataset
    pairs = pair_dataset(tiny_cache, tmp_path / "pairs")
    dpo.train(DPOConfig(config="tiny", init=str(tiny_ckpt), out=str(tmp_path / "dpo"), data=[str(pairs)], steps=2,
                        batch_size=8, lr=1e-3, warmup=1, beta=50.0, log_every=1, ckpt_every=2, progress=False))
    reward = ImplicitReward(str(tmp_path / "dpo"), draws=2)
    assert reward.beta == 50.0
    image, mask = image_and_mask()
    samples = sample(reward.policy, image, mask, n=3, seed=1, steps=2)
    r = reward(image, mask, samples)
    assert r.shape == (3,) and np.isfinite(r).all()
    assert sorted(reward.rank(image, mask, samples)) == [0, 1, 2]
    assert reward.rank(image, mask, samples)[0] == int(np.argmax(r))


def test_reward_settings_are_the_dpo_runs_and_the_pose_is_ignored_by_default(tiny_ckpt):
    from trainer.rewards import reward_settings
    s = reward_settings({"config": {"tau_mean": 0.5, "tau_std": 2.0, "w_shape": 1.0, "w_rotation": 0.3,
                                    "w_translation": 1.0, "w_scale": 0.1}})
    assert s == {"tau_mean": 0.5, "tau_std": 2.0,
                 "weights": {"shape": 1.0, "rotation": 0.3, "translation": 1.0, "scale": 0.1}}
    ref, _ = load_checkpoint(tiny_ckpt)
    policy, _ = load_checkpoint(tiny_ckpt)
    with torch.no_grad():                   # a policy that differs from the reference in its layout stream only
        policy.final["layout"].linear.bias.add_(0.5)
    image, mask = image_and_mask()
    samples = sample(ref, image, mask, n=2, seed=0, steps=2)
    assert np.allclose(implicit_reward(policy, ref, image, mask, samples, beta=10.0, draws=2), 0.0)
    assert not np.allclose(implicit_reward(policy, ref, image, mask, samples, beta=10.0, draws=2, with_layout=True), 0.0)
