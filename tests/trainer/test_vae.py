import torch

from trainer.vae import OccupancyVAE


def test_shapes_follow_the_published_factor_of_four():
    vae = OccupancyVAE(channels=4, width=8)
    occ = (torch.rand(2, 16, 16, 16) > 0.5).float()
    mean, logvar = vae.encode(occ)
    assert mean.shape == logvar.shape == (2, 4, 4, 4, 4)
    assert vae.decode(mean).shape == (2, 16, 16, 16)


def test_loss_is_dice_plus_weighted_kl():
    torch.manual_seed(0)
    vae = OccupancyVAE(channels=4, width=8)
    occ = (torch.rand(2, 16, 16, 16) > 0.7).float()
    l0, p0 = vae.loss(occ, 0.0, torch.Generator().manual_seed(1))
    l1, p1 = vae.loss(occ, 0.5, torch.Generator().manual_seed(1))
    assert abs(l0.item() - p0["vae/dice"]) < 1e-6
    assert abs(l1.item() - (p1["vae/dice"] + 0.5 * p1["vae/kl"])) < 1e-5
    assert 0 <= p0["vae/dice"] <= 1


def test_latent_scale_is_undone_by_from_latent():
    vae = OccupancyVAE(channels=4, width=8).eval()
    occ = (torch.rand(1, 16, 16, 16) > 0.5).float()
    vae.latent_scale.fill_(3.0)
    with torch.no_grad():
        z = vae.to_latent(occ)
        assert torch.allclose(z, 3.0 * vae.encode(occ)[0])
        assert torch.allclose(vae.from_latent(z), torch.sigmoid(vae.decode(vae.encode(occ)[0])), atol=1e-6)


def test_a_few_steps_lower_the_dice_loss():
    torch.manual_seed(0)
    vae = OccupancyVAE(channels=4, width=8)
    occ = torch.zeros(4, 16, 16, 16)
    occ[:, 4:12, 4:12, 4:12] = 1
    opt = torch.optim.Adam(vae.parameters(), lr=3e-3)
    first = None
    for i in range(30):
        loss, _ = vae.loss(occ, 1e-4, torch.Generator().manual_seed(i))
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first
