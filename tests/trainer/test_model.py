import pytest
import torch

from trainer.config import model_config
from trainer.model import FlowModel


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return FlowModel(model_config("tiny"))


def inputs(model, B=3):
    c = model.cfg
    g = torch.Generator().manual_seed(0)
    shape = torch.randn(B, c.vae_channels, c.latent_grid, c.latent_grid, c.latent_grid, generator=g)
    views = torch.rand(B, 2, 4, c.image_size, c.image_size, generator=g)
    return shape, torch.randn(B, 10, generator=g), torch.rand(B, generator=g), model.encode_condition(views)


def test_output_shapes(model):
    shape, layout, t, cond = inputs(model)
    assert cond.shape == (3, 2 * (32 // 8) ** 2, 32)
    vs, vl = model(shape, layout, t, cond)
    assert vs.shape == shape.shape and vl.shape == (3, 10)


def test_zero_initialised_heads_predict_zero_velocity(model):
    vs, vl = model(*inputs(model))
    assert vs.abs().max() == 0 and vl.abs().max() == 0


def test_patchify_inverts():
    m = FlowModel(model_config("tiny", latent_patch=2))
    z = torch.randn(2, 4, 4, 4, 4)
    p = m.patchify(z)
    assert p.shape == (2, 8, 32)
    assert torch.equal(m.unpatchify(p), z)


def test_step_size_embedding_starts_at_zero(model):
    for p in model.final.parameters():      # make the heads non-trivial first
        torch.nn.init.normal_(p, std=0.1)
    for b in model.blocks:
        for s in b.streams.values():
            torch.nn.init.normal_(s.ada.weight, std=0.1)
    shape, layout, t, cond = inputs(model)
    a = model(shape, layout, t, cond)
    b = model(shape, layout, t, cond, d=torch.full((3,), 0.25))
    assert torch.allclose(a[0], b[0]) and torch.allclose(a[1], b[1])


def test_dropped_condition_uses_the_null_token(model):
    views = torch.rand(2, 2, 4, 32, 32)
    c = model.encode_condition(views, drop=torch.tensor([True, False]))
    assert torch.equal(c[0], model.null_cond[0].expand_as(c[0]))
    assert not torch.equal(c[1], model.null_cond[0].expand_as(c[1]))


def test_layout_parameters_are_exactly_the_layout_stream(model):
    names = {id(p): n for n, p in model.named_parameters()}
    layout = {names[id(p)] for p in model.layout_parameters()}
    assert all("layout" in n for n in layout)
    assert {n for n in names.values() if ".streams.layout." in n} <= layout
    assert not any(".streams.shape." in n for n in layout)


@pytest.mark.parametrize("preset", ["tiny", "cpu"])
def test_shape_tokens_know_their_position_at_pure_noise(preset):
    """At t = 1 a shape token's content is noise, so only its positional embedding says which part
    of the shape it should denoise; that signal must be as large as the content and distinct per
    token (a 0.02-scale table left the model unable to place anything: vIoU below a mean shape)."""
    torch.manual_seed(0)
    m = FlowModel(model_config(preset))
    c = m.cfg
    noise = torch.randn(4, c.vae_channels, c.latent_grid, c.latent_grid, c.latent_grid)
    content = m.shape_in(m.patchify(noise)).norm(dim=-1).mean()
    pos = m.shape_pos[0]                                                   # (T, D)
    assert pos.norm(dim=-1).min() >= 0.5 * content, (pos.norm(dim=-1).min().item(), content.item())
    cos = torch.nn.functional.normalize(pos, dim=-1) @ torch.nn.functional.normalize(pos, dim=-1).T
    off = cos[~torch.eye(len(pos), dtype=torch.bool)]
    assert off.max() < 0.99, f"two shape tokens have near-identical positions (cosine {off.max():.3f})"
