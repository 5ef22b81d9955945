"""Shared tiny fixtures: a render cache and a briefly trained tiny checkpoint (session scope)."""
from __future__ import annotations

import pytest
import torch

from trainer.config import DataConfig, TrainConfig


@pytest.fixture(scope="session", autouse=True)
def _threads():
    torch.set_num_threads(2)


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory):
    """32 isolated renders at the tiny sizes (G=16, 32px views)."""
    from trainer.data.cache import prepare
    out = tmp_path_factory.mktemp("tiny_cache")
    prepare(DataConfig(out=str(out), kind="render", n=32, primitives=7, grid=16, render_size=64,
                       image_size=32, shard_size=16), progress=False)
    return out


def tiny_train_config(out, data, **kw) -> TrainConfig:
    """A TrainConfig that runs in a second or two on the CPU."""
    base = dict(config="tiny", out=str(out), data=[str(data)], steps=20, vae_steps=10, batch_size=8,
                lr=1e-3, warmup=2, log_every=5, ckpt_every=10, progress=False, resume=True)
    return TrainConfig(**{**base, **kw})


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory, tiny_cache):
    """A tiny model flow-trained for 20 steps on the tiny cache; returns the run folder."""
    from trainer import sft
    out = tmp_path_factory.mktemp("tiny_run")
    sft.train(tiny_train_config(out, tiny_cache))
    return out


def assert_resume_is_exact(train, make_cfg, tmp_path) -> None:
    """Train make_cfg(out) straight, and again crashed after its first checkpoint and resumed: the resumed
    run continues from that checkpoint (each step logged once) and ends with the same weights, bit for bit."""
    import json
    import shutil

    from safetensors.torch import load_file
    full, crashed = tmp_path / "full", tmp_path / "crashed"
    train(make_cfg(full))
    train(make_cfg(crashed))
    steps = sorted(p.name for p in crashed.glob("step-*"))
    assert len(steps) >= 2, f"keep at least two checkpoints to crash between them, got {steps}"
    for later in steps[1:]:                           # the crash: only the first checkpoint survives
        shutil.rmtree(crashed / later)
    (crashed / "last").write_text(steps[0])
    train(make_cfg(crashed))
    for name in ("model.safetensors", "ema.safetensors"):
        a, b = load_file(str(full / steps[-1] / name)), load_file(str(crashed / steps[-1] / name))
        assert all(torch.equal(a[k], b[k]) for k in a), name
    logged = [json.loads(line)["step"] for line in (crashed / "log.jsonl").read_text().splitlines()]
    assert logged == sorted(set(logged)), logged
