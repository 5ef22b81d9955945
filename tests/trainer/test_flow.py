import pytest
import torch

from trainer.flow import FlowBatch, interpolate, logit_normal, make_flow_batch, per_sample_mse

W = {"shape": 1.0, "rotation": 0.1, "translation": 1.0, "scale": 0.1}


def test_time_convention_t1_is_noise_t0_is_data():
    """The time convention of trainer.flow: x_0 is data, x_1 the noise, the target v = eps - x0."""
    x0, eps = torch.full((2, 3), 5.0), torch.full((2, 3), -1.0)
    assert torch.equal(interpolate(x0, eps, torch.ones(2)), eps)
    assert torch.equal(interpolate(x0, eps, torch.zeros(2)), x0)
    fb = make_flow_batch(x0, x0[:, :1].expand(2, 10).clone(), torch.full((2,), 0.25), eps, eps[:, :1].expand(2, 10))
    assert torch.allclose(fb.x_shape, torch.full((2, 3), 0.75 * 5 - 0.25))
    assert torch.equal(fb.v_shape, eps - x0)     # v = dx_t/dt = eps - x0


def test_per_sample_mse_matches_hand_computation():
    fb = FlowBatch(None, None, None, torch.zeros(2, 4), torch.zeros(2, 10))
    pred_s = torch.tensor([[1.0, 1, 1, 1], [2, 0, 0, 0]])           # shape MSE: 1.0 and 1.0
    pred_l = torch.zeros(2, 10)
    pred_l[:, 0] = 6.0                                              # rotation MSE (6 dims): 36/6 = 6
    pred_l[:, 6:9] = 1.0                                            # translation MSE: 1
    pred_l[:, 9] = 2.0                                              # scale MSE: 4
    mask = torch.tensor([[1.0, 1, 1], [1.0, 0, 0]])                 # sample 2: rotation only
    m = per_sample_mse(pred_s, pred_l, fb, mask, W)
    assert torch.allclose(m, torch.tensor([1 + 0.1 * 6 + 1.0 * 1 + 0.1 * 4, 1 + 0.1 * 6]))


def test_logit_normal_is_in_open_unit_interval_with_median_half():
    t = logit_normal(20000, 0.0, 1.0, torch.Generator().manual_seed(0))
    assert 0 < t.min() and t.max() < 1
    assert abs(t.median().item() - 0.5) < 0.02


@pytest.mark.parametrize("t", [1.0, 0.9, 0.5, 0.1])
def test_one_euler_step_of_the_true_velocity_lands_on_the_data(t):
    """The sampler's step x_{t - dt} = x_t - dt v, with dt = t and v the training target, reaches x0."""
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(3, 5, generator=g), torch.randn(3, 5, generator=g)
    l0, leps = torch.randn(3, 10, generator=g), torch.randn(3, 10, generator=g)
    fb = make_flow_batch(x0, l0, torch.full((3,), t), eps, leps)
    assert torch.allclose(fb.x_shape - t * fb.v_shape, x0, atol=1e-6)
    assert torch.allclose(fb.x_layout - t * fb.v_layout, l0, atol=1e-6)


def test_training_tau_covers_the_times_where_the_sampler_steps():
    """The default sampler takes half its steps above some t_mid (near noise, where the global shape is
    decided); the default training tau must put a fair share of its mass there too. With tau_mean = 0
    only ~12 % did, and the model never learned to place a shape (vIoU below a fixed mean shape)."""
    from trainer.config import SampleConfig, TrainConfig
    from trainer.sampling import time_grid
    s, cfg = SampleConfig(), TrainConfig()
    t_mid = time_grid(s.steps, s.rescale_t)[:-1].median()
    tau = logit_normal(100_000, cfg.tau_mean, cfg.tau_std, torch.Generator().manual_seed(0))
    share = (tau >= t_mid).float().mean().item()
    assert share >= 1 / 3, f"only {share:.0%} of training tau lies above the sampler's median time {t_mid:.2f}"
