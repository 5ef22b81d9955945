import numpy as np
import pytest
import torch

from trainer import distill
from trainer.checkpoints import load_checkpoint
from trainer.config import DistillConfig
from trainer.sampling import sample

from trainer.distill import shortcut_targets, shortcut_times, teacher_start_targets


def _inputs(n=2):
    g = torch.Generator().manual_seed(0)
    return (torch.randn(n, 4, 4, 4, 4, generator=g), torch.randn(n, 10, generator=g),
            torch.rand(n, 2, 4, 32, 32, generator=g))


def _teacher_cfg_velocity(teacher, views):
    """u(x, t) = v_u + w(t) (v_c - v_u) with w(t) = 2 inside [0, 0.95], else 1 (the sampler's rule)."""
    c = teacher.encode_condition(views)
    un = teacher.null_condition(c)

    def v(xs, xl, tt):
        w = torch.where(tt <= 0.95, 2.0, 1.0)
        (cs, cl), (us, ul) = teacher(xs, xl, tt, c), teacher(xs, xl, tt, un)
        return us + w.view(-1, 1, 1, 1, 1) * (cs - us), ul + w[:, None] * (cl - ul)
    return v


def test_targets_at_the_smallest_step_are_two_teacher_cfg_steps(tiny_ckpt):
    teacher, _ = load_checkpoint(tiny_ckpt)
    student, _ = load_checkpoint(tiny_ckpt)
    cfg = DistillConfig(min_step_log2=2, cfg_weight=2.0, cfg_interval=[0.0, 1.0])
    x_s, x_l, views = _inputs()
    t, d = torch.tensor([1.0, 0.5]), torch.tensor([0.25, 0.25])
    ts, tl = shortcut_targets(student, teacher, x_s, x_l, t, d, views, cfg)
    with torch.no_grad():
        c = teacher.encode_condition(views)
        u = teacher.null_condition(c)
        v = lambda xs, xl, tt: [a + 2.0 * (b - a) for b, a in zip(teacher(xs, xl, tt, c), teacher(xs, xl, tt, u))]
        v1 = v(x_s, x_l, t)
        v2 = v(x_s - 0.25 * v1[0], x_l - 0.25 * v1[1], t - 0.25)
    assert torch.allclose(ts, (v1[0] + v2[0]) / 2, atol=1e-5) and torch.allclose(tl, (v1[1] + v2[1]) / 2, atol=1e-5)


def test_baked_guidance_follows_the_samplers_interval(tiny_ckpt):
    """At t = 1 (outside [0, 0.95]) the 25-step sampler uses the conditional velocity; so must the targets."""
    teacher, _ = load_checkpoint(tiny_ckpt)
    cfg = DistillConfig(min_step_log2=2, cfg_weight=2.0)                 # default interval [0, 0.95]
    x_s, x_l, views = _inputs()
    t, d = torch.tensor([1.0, 0.5]), torch.tensor([0.25, 0.25])
    ts, tl = shortcut_targets(teacher, teacher, x_s, x_l, t, d, views, cfg)
    with torch.no_grad():
        v = _teacher_cfg_velocity(teacher, views)
        v1 = v(x_s, x_l, t)
        v2 = v(x_s - 0.25 * v1[0], x_l - 0.25 * v1[1], t - 0.25)
    assert torch.allclose(ts, (v1[0] + v2[0]) / 2, atol=1e-5) and torch.allclose(tl, (v1[1] + v2[1]) / 2, atol=1e-5)


def test_larger_steps_bootstrap_from_the_student_at_half_the_step(tiny_ckpt):
    teacher, _ = load_checkpoint(tiny_ckpt)
    student, _ = load_checkpoint(tiny_ckpt)
    with torch.no_grad():                                  # a student whose step embedding has moved
        student.d_embed[-1].weight.normal_(0, 0.5, generator=torch.Generator().manual_seed(1))
    cfg = DistillConfig(min_step_log2=2, cfg_weight=2.0)
    x_s, x_l, views = _inputs()
    t, d = torch.tensor([1.0, 1.0]), torch.tensor([0.5, 0.25])           # row 0: student level, row 1: teacher
    ts, tl = shortcut_targets(student, teacher, x_s, x_l, t, d, views, cfg)
    with torch.no_grad():
        c = student.encode_condition(views[:1])
        half = torch.tensor([0.5])
        a = student(x_s[:1], x_l[:1], t[:1], c, half)
        b = student(x_s[:1] - 0.5 * a[0], x_l[:1] - 0.5 * a[1], t[:1] - 0.5, c, half)
        v = _teacher_cfg_velocity(teacher, views[1:])
        p = v(x_s[1:], x_l[1:], t[1:])
        q = v(x_s[1:] - 0.25 * p[0], x_l[1:] - 0.25 * p[1], t[1:] - 0.25)
    assert torch.allclose(ts[:1], (a[0] + b[0]) / 2, atol=1e-5) and torch.allclose(tl[:1], (a[1] + b[1]) / 2, atol=1e-5)
    assert torch.allclose(ts[1:], (p[0] + q[0]) / 2, atol=1e-5) and torch.allclose(tl[1:], (p[1] + q[1]) / 2, atol=1e-5)


def test_shortcut_times_cover_every_level_on_the_samplers_grid():
    d, t = shortcut_times(70, torch.Generator().manual_seed(0), 7)
    assert sorted(set((-torch.log2(d)).round().int().tolist())) == list(range(1, 8))
    assert torch.bincount((-torch.log2(d)).round().long())[1:].tolist() == [10] * 7   # evenly spread
    steps = t / (2 * d)                                    # t is a whole number of steps of size 2d
    assert torch.allclose(steps, steps.round()) and (t >= 2 * d - 1e-9).all() and (t <= 1).all()
    assert torch.equal(t[d == 0.5], torch.ones(10))        # the one-step level always starts from noise


def test_flow_rows_are_told_d_zero_and_shortcut_rows_the_full_step(tiny_ckpt, tiny_cache):
    from trainer.data.loader import open_dataset
    model, _ = load_checkpoint(tiny_ckpt)
    teacher, _ = load_checkpoint(tiny_ckpt)
    cfg = DistillConfig(config="tiny", min_step_log2=3, shortcut_frac=0.25)
    seen = {}

    def objective(views, drop, fb, layout_mask, d=None, given=None):
        seen.update(drop=drop, t=fb.t, d=d)
        return torch.zeros(len(fb.t), requires_grad=True)

    batch = open_dataset(str(tiny_cache), 16, 32, progress=False).batch(list(range(8)))
    distill.distill_step(cfg, model, teacher)(objective, batch, torch.Generator().manual_seed(0))
    d, t = seen["d"], seen["t"]
    assert (d[:6] == 0).all() and set(d[6:].tolist()) <= {1.0, 0.5, 0.25}
    steps = t[6:] / d[6:]
    assert torch.allclose(steps, steps.round()) and not seen["drop"][6:].any()


def test_teacher_start_targets_are_the_teachers_flow_sampler_over_the_first_step(tiny_ckpt):
    teacher, _ = load_checkpoint(tiny_ckpt)
    cfg = DistillConfig(cfg_weight=2.0, cfg_interval=[0.0, 0.95], teacher_start_steps=3)
    x_s, x_l, views = _inputs()
    ts, tl = teacher_start_targets(teacher, x_s, x_l, views, cfg, 0.25)
    # By hand: 3 guided Euler steps over the rescaled grid from 1 to 3/4 (w = 1 above 0.95).
    r = teacher.sample_config.rescale_t
    u = torch.linspace(1.0, 0.75 / (r - (r - 1) * 0.75), 4, dtype=torch.float64)
    grid = (r * u / (1 + (r - 1) * u)).float().tolist()
    assert grid[0] > 0.95 > grid[1]                        # the first step is outside the guidance interval
    v = _teacher_cfg_velocity(teacher, views)
    xs, xl = x_s.clone(), x_l.clone()
    with torch.no_grad():
        for t, t_next in zip(grid[:-1], grid[1:]):
            vs, vl = v(xs, xl, torch.full((2,), t))
            xs, xl = xs - (t - t_next) * vs, xl - (t - t_next) * vl
    assert torch.allclose(ts, (x_s - xs) / 0.25, atol=1e-5) and torch.allclose(tl, (x_l - xl) / 0.25, atol=1e-5)
    # A one-step shortcut of the target from the noise lands where the teacher did.
    assert torch.allclose(x_s - 0.25 * ts, xs, atol=1e-5)


def test_teacher_start_rows_start_from_noise_with_the_first_step(tiny_ckpt, tiny_cache):
    from trainer.data.loader import open_dataset
    model, _ = load_checkpoint(tiny_ckpt)
    teacher, _ = load_checkpoint(tiny_ckpt)
    cfg = DistillConfig(config="tiny", min_step_log2=3, shortcut_frac=0.5, teacher_start_frac=0.5,
                        teacher_start_steps=2)
    seen = {}

    def objective(views, drop, fb, layout_mask, d=None, given=None):
        seen.update(fb=fb, d=d)
        return torch.zeros(len(fb.t), requires_grad=True)

    batch = open_dataset(str(tiny_cache), 16, 32, progress=False).batch(list(range(8)))
    _, logs = distill.distill_step(cfg, model, teacher)(objective, batch, torch.Generator().manual_seed(0))
    fb, d = seen["fb"], seen["d"]
    assert torch.equal(fb.t[6:], torch.ones(2)) and torch.equal(d[6:], torch.full((2,), 0.25))
    assert (d[:4] == 0).all() and set(d[4:6].tolist()) <= {1.0, 0.5, 0.25}
    views = __import__("trainer.data.views", fromlist=["x"]).views_to_tensor(batch["views"])[6:]
    ts, tl = teacher_start_targets(teacher, fb.x_shape[6:], fb.x_layout[6:], views, cfg, 0.25)
    assert torch.allclose(fb.v_shape[6:], ts) and torch.allclose(fb.v_layout[6:], tl)
    assert "loss/teacher_start" in logs


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


def test_resume_continues_bit_for_bit(tmp_path, tiny_ckpt, tiny_cache):
    from .conftest import assert_resume_is_exact
    assert_resume_is_exact(distill.train, lambda out: DistillConfig(
        config="tiny", init=str(tiny_ckpt), out=str(out), data=[str(tiny_cache)], steps=4, batch_size=8,
        min_step_log2=3, log_every=2, ckpt_every=2, keep_last=5, progress=False), tmp_path)
