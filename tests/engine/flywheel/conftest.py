"""Flywheel fixtures: the fast CPU suite with our deployed checkpoints, a run folder per test, and π_0."""

import pytest

from tests.engine.simulation.conftest import fast_suite, shape_library  # noqa: F401


@pytest.fixture
def flywheel_suite(fast_suite, settings, tmp_path):  # noqa: F811
    """The fast CPU suite plus our deployed checkpoints, sampled in 4 steps."""
    from engine.candidates import generation

    settings.MODEL_SUITE = {"refine_pose": False, "flow_steps": 4}
    settings.RUNS_ROOT = tmp_path / "runs"
    generation._suite.cache_clear()
    yield settings
    generation._suite.cache_clear()


@pytest.fixture(scope="session")
def base_checkpoint(tmp_path_factory):
    """π_0 of the flywheel tests and the RQ drills: the tiny model pretrained for a few steps on 16 renders (seconds)."""
    from trainer import sft
    from trainer.config import DataConfig, TrainConfig
    from trainer.data.cache import prepare

    root = tmp_path_factory.mktemp("flywheel-base")
    prepare(DataConfig(out=str(root / "render"), kind="render", n=16, primitives=4, grid=16, render_size=64,
                       image_size=32, shard_size=16), progress=False)
    sft.train(TrainConfig(config="tiny", out=str(root / "pretrain"), data=[str(root / "render")], steps=4, vae_steps=4,
                          batch_size=8, lr=1e-3, warmup=1, log_every=2, ckpt_every=4, progress=False))
    return root / "pretrain"


@pytest.fixture(scope="session")
def category_base(tmp_path_factory):
    """π_0 with a category head: the tiny model pretrained with the category loss and one layer over the
    condition tokens on 16 renders; its vocabulary is the primitive kinds those renders show (chair, mug, ...)."""
    from trainer import sft
    from trainer.config import DataConfig, TrainConfig
    from trainer.data.cache import prepare

    root = tmp_path_factory.mktemp("flywheel-category-base")
    prepare(DataConfig(out=str(root / "render"), kind="render", n=16, primitives=4, grid=16, render_size=64,
                       image_size=32, shard_size=16), progress=False)
    sft.train(TrainConfig(config="tiny", out=str(root / "pretrain"), data=[str(root / "render")], steps=4, vae_steps=4,
                          batch_size=8, lr=1e-3, warmup=1, log_every=2, ckpt_every=4, progress=False,
                          category_loss=1.0, cond_layers=1))
    return root / "pretrain"


@pytest.fixture(scope="session")
def named_base(tmp_path_factory):
    """π_0 given the category by its name's sentence embedding (ModelConfig.category_text): the tiny model
    pretrained for a few steps on 16 renders; its vocabulary is the primitive kinds those renders show."""
    from trainer import sft
    from trainer.config import DataConfig, TrainConfig
    from trainer.data.cache import prepare

    root = tmp_path_factory.mktemp("flywheel-named-base")
    prepare(DataConfig(out=str(root / "render"), kind="render", n=16, primitives=4, grid=16, render_size=64,
                       image_size=32, shard_size=16), progress=False)
    sft.train(TrainConfig(config="tiny", out=str(root / "pretrain"), data=[str(root / "render")], steps=4, vae_steps=4,
                          batch_size=8, lr=1e-3, warmup=1, log_every=2, ckpt_every=4, progress=False,
                          category_condition=True, category_text=True))
    return root / "pretrain"
