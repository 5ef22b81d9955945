import dataclasses

import pytest

from trainer.config import (DataConfig, DistillConfig, DPOConfig, EvalConfig, MODEL_PRESETS, ModelConfig,
                            SampleConfig, TrainConfig, model_config)


@pytest.mark.parametrize("name", sorted(MODEL_PRESETS))
def test_presets_are_valid(name):
    cfg = model_config(name)
    assert cfg.n_shape_tokens == (cfg.grid // 4 // cfg.latent_patch) ** 3


def test_unknown_preset_names_the_choices():
    with pytest.raises(ValueError, match="choose one of"):
        model_config("huge")


def test_bad_sizes_are_rejected_with_values():
    with pytest.raises(AssertionError, match="not divisible by latent_patch 3"):
        ModelConfig(grid=32, latent_patch=3)


@pytest.mark.parametrize("cls", [ModelConfig, DataConfig, TrainConfig, DPOConfig, DistillConfig, SampleConfig, EvalConfig])
def test_every_field_has_help(cls):
    assert all(f.metadata.get("help") for f in dataclasses.fields(cls))


def test_model_config_roundtrips_through_a_dict():
    cfg = model_config("tiny")
    assert model_config(cfg.__dict__) == cfg
