import numpy as np
import pytest
import torch

from trainer import distill
from trainer.checkpoints import load_checkpoint
from trainer.config import DistillConfig
from trainer.sampling import sample

from trainer.distill import shortcut_targets


def test_targets_at_the_smallest_step_are_two_teacher_cfg_steps(tiny_ckpt):
    teacher, _ = load_checkpoint(tiny_ckpt)
    student, _ = load_checkpoint(tiny_ckpt)
    cfg = DistillConfig(min_step_log2=2, cfg_weight=2.0)
    g = torch.Generator().manual_seed(0)
    x_s, x_l = torch.randn(2, 4, 4, 4, 4, generator=g), torch.randn(2, 10, generator=g)
    views = torch.rand(2, 2, 4, 32, 32, generator=g)
    t, d = torch.tensor([1.0, 0.5]), torch.tensor([0.25, 0.25])
    ts, tl = shortcut_targets(student, teacher, x_s, x_l, t, d, views, cfg)
    with torch.no_grad():
        c = teacher.encode_condition(views)
        u = teacher.null_condition(c)
        v = lambda xs, xl, tt: [a + 2.0 * (b - a) for b, a in zip(teacher(xs, xl, tt, c), teacher(xs, xl, tt, u))]
        v1 = v(x_s, x_l, t)
        v2 = v(x_s - 0.25 * v1[0], x_l - 0.25 * v1[1], t - 0.25)
    assert torch.allclose(ts, (v1[0] + v2[0]) / 2, atol=1e-5) and torch.allclose(tl, (v1[1] + v2[1]) / 2, atol=1e-5)


@pytest.mark.slow
def test_distilled_checkpoint_samples_in_both_modes(tmp_path, tiny_ckpt, tiny_cache):
    cfg = DistillConfig(config="tiny", init=str(tiny_ckpt), out=str(tmp_path), data=[str(tiny_cache)],
                        steps=4, batch_size=8, log_every=2, ckpt_every=4, progress=False)
    distill.train(cfg)
    model, manifest = load_checkpoint(tmp_path)
    assert manifest["stage"] == "distill" and manifest["sampler"]["shortcut_steps"] == 4
    assert model.d_embed[-1].weight.abs().sum() > 0       # the step embedding has left zero
    image = np.full((32, 32, 3), 90, np.uint8)
    mask = np.zeros((32, 32), bool)
    mask[8:24, 8:24] = True
    for mode in ("flow", "shortcut"):
        r = sample(model, image, mask, n=1, seed=0, mode=mode)[0]
        assert r.occupancy.shape == (16, 16, 16) and np.isfinite(r.occupancy).all()
