"""The Depth Anything adapter: local weights only, the real architecture, the checkpoints' own preprocessing."""

import json

import numpy as np
import pytest
import torch

from model_suite.depth import depth_estimators, estimate_depth, register_depth_estimator, unregister_depth_estimator
from model_suite.depth_anything import DepthAnythingEstimator, resized_size
from model_suite.registry import SuiteConfigError, build_depth_estimator
from tests.model_suite.tiny_depth_anything import write_tiny_checkpoint

K = {"fx": 80.0, "fy": 80.0, "cx": 40.0, "cy": 30.0}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("depth-anything-tiny")
    model = write_tiny_checkpoint(folder)
    return folder, model


@pytest.fixture(scope="module")
def photo():
    from skimage import data, transform

    return (transform.resize(data.astronaut(), (60, 80), anti_aliasing=True) * 255).astype(np.uint8)


def test_the_adapter_loads_the_written_weights_exactly(checkpoint):
    folder, model = checkpoint
    estimator = DepthAnythingEstimator(folder)
    assert estimator.availability().ok and estimator.queue == "cpu"
    estimator.load()
    loaded, written = estimator._model.state_dict(), model.state_dict()
    assert loaded.keys() == written.keys() and len(loaded) > 100  # backbone, neck and head: the whole network
    assert all(torch.equal(loaded[k], written[k]) for k in written)


def test_a_depth_map_in_metres_the_size_of_the_image(checkpoint, photo):
    folder, model = checkpoint
    estimator = DepthAnythingEstimator(folder)
    depth = estimator(photo, K)
    assert depth.shape == photo.shape[:2] and depth.dtype == np.float32
    assert np.isfinite(depth).all() and depth.min() >= 0 and depth.max() <= 10.0  # sigmoid · max_depth, metric head
    # The same numbers as the network run by hand on the preprocessed photo, then resized back.
    with torch.inference_mode():
        by_hand = model(pixel_values=estimator.preprocess(photo)).predicted_depth
        by_hand = torch.nn.functional.interpolate(by_hand[:, None], size=(60, 80), mode="bicubic",
                                                  align_corners=False)[0, 0].clamp_min(0).numpy()
    assert np.allclose(depth, by_hand, atol=1e-5)
    assert np.array_equal(estimator(photo, K), depth)  # deterministic


def test_preprocessing_is_the_checkpoints_own(checkpoint, photo):
    from transformers.models.dpt.image_processing_pil_dpt import DPTImageProcessorPil

    folder, _ = checkpoint
    ours = DepthAnythingEstimator(folder).preprocess(photo)
    config = json.loads((folder / "preprocessor_config.json").read_text())
    theirs = DPTImageProcessorPil(**{k: v for k, v in config.items() if k != "image_processor_type"})(
        images=photo, return_tensors="pt")["pixel_values"]
    assert ours.shape == theirs.shape == (1, 3, 56, 70)  # aspect kept, each side a multiple of 14
    assert (ours - theirs).abs().mean() < 0.05  # bicubic in torch vs in PIL: the same picture, rounding apart


@pytest.mark.parametrize("h,w,expected", [((480, 640), (518, 518), (518, 686)), ((500, 741), (518, 518), (518, 770)),
                                          ((60, 80), (56, 56), (56, 70)), ((1000, 200), (518, 518), (518, 98))])
def test_the_input_size_follows_dpt_s_rule(h, w, expected):
    from transformers.models.dpt.image_processing_pil_dpt import get_resize_output_image_size

    assert resized_size(*h, *w, 14, True) == expected
    theirs = get_resize_output_image_size(np.zeros((3, *h)), output_size=w, keep_aspect_ratio=True, multiple=14)
    assert (theirs.height, theirs.width) == expected


def test_a_relative_checkpoint_is_refused_rather_than_taken_for_metres(tmp_path):
    write_tiny_checkpoint(tmp_path, metric=False)
    estimator = DepthAnythingEstimator(tmp_path)
    assert not estimator.availability().ok and "relative depth" in estimator.availability().reason
    with pytest.raises(RuntimeError, match="use a metric checkpoint"):
        estimator.load()


def test_weights_of_another_network_are_refused_not_filled_with_noise(tmp_path):
    from safetensors.torch import load_file, save_file

    write_tiny_checkpoint(tmp_path)
    weights = load_file(tmp_path / "model.safetensors")
    save_file({k: v for k, v in weights.items() if not k.startswith("head.")}, tmp_path / "model.safetensors",
              metadata={"format": "pt"})
    with pytest.raises(RuntimeError, match="does not hold this architecture's weights"):
        DepthAnythingEstimator(tmp_path).load()


def test_a_missing_folder_says_so(tmp_path):
    estimator = DepthAnythingEstimator(tmp_path / "nowhere", device="cuda")
    assert estimator.queue == "gpu"  # a CUDA model runs on the gpu queue's workers
    assert "no checkpoint folder" in estimator.availability().reason


def test_the_suite_settings_build_and_register_it(checkpoint, photo, monkeypatch):
    monkeypatch.setattr("model_suite.depth._DEPTH_ESTIMATORS", {})
    monkeypatch.setattr("model_suite.depth._DEPTH_QUEUES", {})
    folder, _ = checkpoint
    assert build_depth_estimator({}) is None
    estimator = build_depth_estimator({"depth_model": {"path": str(folder), "name": "da2-tiny"}})
    register_depth_estimator(estimator.name, estimator)
    assert depth_estimators() == {"da2-tiny": "cpu"}
    assert estimate_depth(photo, K).shape == (60, 80)
    unregister_depth_estimator("da2-tiny")
    assert depth_estimators() == {}
    with pytest.raises(SuiteConfigError, match="unknown depth_model key"):
        build_depth_estimator({"depth_model": {"path": str(folder), "url": "http://hub"}})


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
def test_on_a_gpu_it_gives_the_cpu_s_depth(checkpoint, photo):
    folder, _ = checkpoint
    on_gpu = DepthAnythingEstimator(folder, device="cuda")(photo, K)
    assert np.allclose(on_gpu, DepthAnythingEstimator(folder)(photo, K), atol=1e-3)
