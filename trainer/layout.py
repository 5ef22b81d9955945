"""Layout parameterisation: (R, t, s) <-> one 10-vector token.

Camera convention (OpenCV, stated once for the whole package): x right, y down, z forward;
a point of the object frame maps to the camera as p_cam = s * R @ p_obj + t.

The layout token is  [r6 (6) | (t - (0, 0, offset)) / t_scale (3) | log s (1)],
where r6 = the first two columns of R (Zhou et al. 2019, "6D rotation representation").
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

LAYOUT_DIM = 10
# Slices of the layout token per modality; also used to weight the losses.
ROT, TRANS, SCALE = slice(0, 6), slice(6, 9), slice(9, 10)


def matrix_to_r6(R: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotation -> (..., 6): first column then second column."""
    return torch.cat([R[..., :, 0], R[..., :, 1]], dim=-1)


def r6_to_matrix(r6: torch.Tensor) -> torch.Tensor:
    """(..., 6) -> (..., 3, 3) by Gram-Schmidt: b1 = a1/|a1|, b2 = unit(a2 - <b1,a2> b1), b3 = b1 x b2."""
    a1, a2 = r6[..., :3], r6[..., 3:]
    b1 = F.normalize(a1, dim=-1)
    b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1)


def encode_layout(R: torch.Tensor, t: torch.Tensor, s: torch.Tensor, offset: float, t_scale: float) -> torch.Tensor:
    """(B,3,3), (B,3), (B,) -> (B, 10) layout token."""
    shift = torch.tensor([0.0, 0.0, offset], dtype=t.dtype, device=t.device)
    return torch.cat([matrix_to_r6(R), (t - shift) / t_scale, torch.log(s.clamp_min(1e-6))[..., None]], dim=-1)


def decode_layout(x: torch.Tensor, offset: float, t_scale: float):
    """(B, 10) layout token -> R (B,3,3), t (B,3), s (B,)."""
    shift = torch.tensor([0.0, 0.0, offset], dtype=x.dtype, device=x.device)
    return r6_to_matrix(x[..., ROT]), x[..., TRANS] * t_scale + shift, torch.exp(x[..., SCALE][..., 0])


def quaternion_to_matrix(q) -> torch.Tensor:
    """[w, x, y, z] (any norm) -> (3, 3) rotation matrix."""
    w, x, y, z = F.normalize(torch.as_tensor(q, dtype=torch.float64), dim=-1).tolist()
    return torch.tensor([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ], dtype=torch.float32)
