import numpy as np
import pytest
import torch

from trainer.checkpoints import load_checkpoint
from trainer.config import SampleConfig
from trainer.sampling import SampleResult, integrate, sample, time_grid


def test_time_grid_runs_from_noise_to_data():
    g = time_grid(25, 3.0)
    assert g[0] == 1 and g[-1] == 0 and len(g) == 26
    assert (g[1:] < g[:-1]).all()
    assert torch.allclose(time_grid(4), torch.tensor([1, 0.75, 0.5, 0.25, 0]))
    assert abs(time_grid(2, 3.0)[1].item() - 0.75) < 1e-6     # 3 * 0.5 / (1 + 2 * 0.5)


def test_a_grid_that_stops_early_keeps_the_full_grids_spacing():
    full, head = time_grid(4, 3.0), time_grid(2, 3.0, end=0.75)   # u = 1, 0.75, 0.5: the first half of full
    assert torch.allclose(head, full[:3]) and abs(head[-1].item() - 0.75) < 1e-6
    assert torch.allclose(time_grid(4, 1.0, end=0.5), torch.tensor([1, 0.875, 0.75, 0.625, 0.5]))


class PointMass(torch.nn.Module):
    """The exact velocity field of a point-mass data distribution at c: v = (x_t - c) / t."""

    def __init__(self, c_shape, c_layout):
        super().__init__()
        self.c_shape, self.c_layout = c_shape, c_layout
        self.calls = 0

    def forward(self, xs, xl, t, cond, d=None):
        self.calls += 1
        tt = t.view(-1, 1, 1, 1, 1)
        return (xs - self.c_shape) / tt, (xl - self.c_layout) / t[:, None]

    def null_condition(self, c):
        return c


@pytest.mark.parametrize("mode,steps,calls", [("flow", 25, 25), ("shortcut", 4, 4)])
def test_euler_on_the_exact_field_lands_on_the_data(mode, steps, calls):
    cs, cl = torch.full((1, 2, 2, 2, 2), 0.7), torch.full((1, 10), -0.3)
    model = PointMass(cs, cl)
    settings = SampleConfig(cfg=1.0)
    xs, xl = integrate(model, torch.zeros(1, 3, 4), torch.randn(1, 2, 2, 2, 2), torch.randn(1, 10), settings, mode, steps)
    assert torch.allclose(xs, cs, atol=1e-5) and torch.allclose(xl, cl, atol=1e-5)
    assert model.calls == calls


def test_cfg_doubles_the_batch_only_inside_the_interval():
    model = PointMass(torch.zeros(1, 2, 2, 2, 2), torch.zeros(1, 10))
    sizes = []
    orig = model.forward
    model.forward = lambda xs, *a, **k: (sizes.append(xs.shape[0]), orig(xs, *a, **k))[1]
    integrate(model, torch.zeros(1, 3, 4), torch.randn(1, 2, 2, 2, 2), torch.randn(1, 10),
              SampleConfig(cfg=2.0, cfg_interval=[0.0, 0.5], rescale_t=1.0), "flow", 4)
    assert sizes == [1, 1, 2, 2]          # t = 1, 0.75 outside; t = 0.5, 0.25 inside


def test_sample_returns_shapes_and_poses(tiny_ckpt):
    model, manifest = load_checkpoint(tiny_ckpt)
    image = np.zeros((48, 64, 3), np.uint8)
    mask = np.zeros((48, 64), bool)
    mask[10:30, 20:40] = True
    out = sample(model, image, mask, n=3, seed=0, steps=3)
    assert len(out) == 3 and all(isinstance(r, SampleResult) for r in out)
    G = model.cfg.grid
    r = out[0]
    assert r.occupancy.shape == (G, G, G) and r.occupancy.dtype == np.float32
    assert r.rotation.shape == (3, 3) and r.translation.shape == (3,) and isinstance(r.scale, float)
    assert np.allclose(r.rotation @ r.rotation.T, np.eye(3), atol=1e-4)
    again = sample(model, image, mask, n=1, seed=0, steps=3)[0]
    assert np.allclose(again.occupancy, r.occupancy, atol=1e-5)     # sample i does not depend on n


def test_sample_rejects_an_empty_mask(tiny_ckpt):
    model, _ = load_checkpoint(tiny_ckpt)
    with pytest.raises(ValueError, match="mask is empty"):
        sample(model, np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), bool), 1, 0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (this machine has none)")
def test_sampling_and_training_run_on_cuda(tiny_ckpt, tiny_cache, tmp_path):
    from tests.trainer.conftest import tiny_train_config
    from trainer import sft
    image = np.zeros((48, 64, 3), np.uint8)
    mask = np.zeros((48, 64), bool)
    mask[10:30, 20:40] = True
    gpu, _ = load_checkpoint(tiny_ckpt, device="cuda")
    assert {p.device.type for p in gpu.parameters()} == {"cuda"}
    on_gpu = sample(gpu, image, mask, n=2, seed=0, steps=3)
    on_cpu = sample(load_checkpoint(tiny_ckpt)[0], image, mask, n=2, seed=0, steps=3)
    for a, b in zip(on_gpu, on_cpu):   # the noise is drawn on the CPU, so both devices sample the same shape
        assert a.occupancy.dtype == np.float32 and np.abs(a.occupancy - b.occupancy).max() < 1e-2
        assert np.allclose(a.rotation, b.rotation, atol=1e-3)
    cfg = tiny_train_config(tmp_path / "run", tiny_cache, init=str(tiny_ckpt), stage="sft", steps=4, ckpt_every=4,
                            device="cuda", dtype="bf16")
    sft.train(cfg)
    model, manifest = load_checkpoint(tmp_path / "run")
    assert manifest["step"] == 4 and all(torch.isfinite(p).all() for p in model.parameters())


def test_the_temperature_scales_the_noise_and_narrows_the_samples(tiny_ckpt):
    from dataclasses import replace

    from trainer.sampling import sample_views
    model, _ = load_checkpoint(tiny_ckpt)
    views = torch.rand(1, 2, 4, model.cfg.image_size, model.cfg.image_size).expand(6, -1, -1, -1, -1)
    latents = lambda settings: sample_views(model, views, seed=3, settings=settings, steps=6)[4]
    default = model.sample_config
    assert torch.equal(latents(default), latents(replace(default, temperature=1.0)))
    spread = {T: latents(replace(default, temperature=T)).std(0).mean().item() for T in (1.0, 0.3)}
    assert spread[0.3] < 0.8 * spread[1.0], spread            # six noises of one image: samples nearer each other
    with pytest.raises(ValueError, match="temperature .* above 0"):
        latents(replace(default, temperature=0.0))


def test_the_sample_and_evaluate_commands_take_a_temperature(tiny_ckpt, tiny_cache, tmp_path, capsys):
    import json

    from PIL import Image

    from trainer.cli import main
    Image.fromarray(np.full((24, 24, 3), 80, np.uint8)).save(tmp_path / "i.png")
    mask = np.zeros((24, 24), np.uint8)
    mask[6:18, 6:18] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    args = lambda out, *more: ["sample", "--ckpt", str(tiny_ckpt), "--image", str(tmp_path / "i.png"), "--mask",
                               str(tmp_path / "m.png"), "--n", "1", "--steps", "3", "--out", str(tmp_path / out), *more]
    assert main(args("own")) == 0 and main(args("cool", "--temperature", "0.3")) == 0
    own, cool = (np.load(tmp_path / k / "sample-00.npz")["occupancy"] for k in ("own", "cool"))
    assert not np.allclose(own, cool)
    assert main(args("bad", "--temperature", "-1")) == 2
    err = capsys.readouterr().err
    assert "--temperature" in err and "above 0" in err and "Traceback" not in err and not (tmp_path / "bad").exists()
    # The baseline keeps its own sampler: the same checkpoint as baseline gives the temperature's paired change.
    out = tmp_path / "eval.json"
    assert main(["evaluate", "--ckpt", str(tiny_ckpt), "--baseline", str(tiny_ckpt), "--data", str(tiny_cache),
                 "--n", "4", "--points", "500", "--emd-points", "16", "--temperature", "0.3", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["sampler"]["temperature"] == 0.3 and report["delta"]["viou"] != 0
