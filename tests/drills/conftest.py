"""Fixtures of the fault drills: the shape library and fast suite the engine tests use, and π_0 for the RQ drills."""

import pytest

from tests.engine.conftest import annotator, artist, engineer, image, obj, project  # noqa: F401
from tests.engine.simulation.conftest import fast_suite, shape_library  # noqa: F401


@pytest.fixture(scope="session")
def base_checkpoint(tmp_path_factory):
    """π_0 of the RQ drills: the tiny model pretrained for a few steps on 16 renders (seconds)."""
    from trainer import sft
    from trainer.config import DataConfig, TrainConfig
    from trainer.data.cache import prepare

    root = tmp_path_factory.mktemp("drill-base")
    prepare(DataConfig(out=str(root / "render"), kind="render", n=16, primitives=4, grid=16, render_size=64,
                       image_size=32, shard_size=16), progress=False)
    sft.train(TrainConfig(config="tiny", out=str(root / "pretrain"), data=[str(root / "render")], steps=2, vae_steps=2,
                          batch_size=8, lr=1e-3, warmup=1, log_every=1, ckpt_every=2, progress=False))
    return root / "pretrain"
