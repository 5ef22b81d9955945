import math

import torch

from trainer.layout import decode_layout, encode_layout, matrix_to_r6, quaternion_to_matrix, r6_to_matrix


def random_rotations(n):
    q = torch.nn.functional.normalize(torch.randn(n, 4, generator=torch.Generator().manual_seed(0)), dim=-1)
    return torch.stack([quaternion_to_matrix(x) for x in q])


def test_r6_roundtrip_is_exact_for_rotations():
    R = random_rotations(8)
    assert torch.allclose(r6_to_matrix(matrix_to_r6(R)), R, atol=1e-5)


def test_r6_to_matrix_gives_rotations_from_any_input():
    R = r6_to_matrix(torch.randn(16, 6))
    eye = torch.eye(3).expand(16, 3, 3)
    assert torch.allclose(R.transpose(1, 2) @ R, eye, atol=1e-5)
    assert torch.allclose(torch.det(R), torch.ones(16), atol=1e-5)


def test_layout_roundtrip():
    R, t, s = random_rotations(4), torch.tensor([[0.1, -0.2, 3.5]] * 4), torch.tensor([0.5, 1.0, 2.0, 0.8])
    x = encode_layout(R, t, s, offset=3.0, t_scale=1.0)
    assert x.shape == (4, 10)
    R2, t2, s2 = decode_layout(x, 3.0, 1.0)
    assert torch.allclose(R2, R, atol=1e-5) and torch.allclose(t2, t) and torch.allclose(s2, s, atol=1e-6)
    assert torch.allclose(x[:, 6:9], torch.tensor([[0.1, -0.2, 0.5]] * 4))


def test_quaternion_about_z():
    c, s = math.cos(math.pi / 4), math.sin(math.pi / 4)
    R = quaternion_to_matrix([c, 0, 0, s])        # 90 degrees about z
    assert torch.allclose(R @ torch.tensor([1.0, 0, 0]), torch.tensor([0.0, 1, 0]), atol=1e-6)
