import pytest
import torch

from trainer.config import model_config
from trainer.encoder import CNNEncoder
from trainer.model import FlowModel


def test_cnn_tokens_per_view():
    enc = CNNEncoder(dim=16, image_size=32, width=4)
    assert enc(torch.rand(3, 2, 4, 32, 32)).shape == (3, 2 * 16, 16)


class PatchBackbone(torch.nn.Module):
    """A stand-in for a local DINOv2 file: 8x8 patches -> 24-dim tokens."""

    def __init__(self):
        super().__init__()
        self.patch = torch.nn.Conv2d(3, 24, 8, stride=8)

    def forward(self, x):
        return self.patch(x).flatten(2).transpose(1, 2)


def test_a_local_dinov2_file_is_used_frozen(tmp_path):
    path = tmp_path / "dinov2.pt"
    torch.jit.script(PatchBackbone()).save(str(path))
    model = FlowModel(model_config("tiny", encoder="dinov2", dinov2_path=str(path)))
    c = model.encode_condition(torch.rand(2, 2, 4, 32, 32))
    assert c.shape == (2, 2 * 16, 32)
    assert not any(p.requires_grad for p in model.encoder.backbone.parameters())


def test_a_missing_dinov2_file_says_nothing_is_downloaded():
    with pytest.raises(FileNotFoundError, match="Nothing is downloaded"):
        FlowModel(model_config("tiny", encoder="dinov2", dinov2_path="/no/such/file.pt"))


def test_stages_never_unfreeze_the_backbone(tmp_path):
    path = tmp_path / "dinov2.pt"
    torch.jit.script(PatchBackbone()).save(str(path))
    model = FlowModel(model_config("tiny", encoder="dinov2", dinov2_path=str(path)))
    model.set_trainable(step_embedding=True)
    assert not any(p.requires_grad for p in model.encoder.backbone.parameters())
    assert model.encoder.proj.weight.requires_grad and model.d_embed[0].weight.requires_grad


def test_attention_encoder_tokens_per_view_and_positions():
    from trainer.encoder import AttnEncoder, sincos_2d
    enc = AttnEncoder(dim=16, image_size=32, width=4, heads=4)
    assert enc(torch.rand(3, 2, 4, 32, 32)).shape == (3, 2 * 16, 16)
    pos = sincos_2d(4, 16)
    assert pos.shape == (16, 16) and pos.abs().max() <= 1.0 and len({tuple(p.tolist()) for p in pos}) == 16


def test_attention_encoder_mixes_the_views():
    # Self-attention across both views: changing the full view changes the crop view's tokens.
    from trainer.encoder import AttnEncoder
    torch.manual_seed(0)
    enc = AttnEncoder(dim=16, image_size=32, width=4, heads=4).eval()
    x = torch.rand(1, 2, 4, 32, 32)
    y = x.clone()
    y[:, 1] = torch.rand(1, 4, 32, 32)
    assert not torch.allclose(enc(x)[:, :16], enc(y)[:, :16])


def test_a_training_run_picks_the_encoder():
    from trainer.config import TrainConfig
    from trainer.stage import build_model
    model, _ = build_model(TrainConfig(config="tiny", encoder="attn"), torch.device("cpu"))
    assert model.cfg.encoder == "attn" and type(model.encoder).__name__ == "AttnEncoder"
    with pytest.raises(AssertionError, match="unknown encoder"):
        model_config("tiny", encoder="vit-huge")
