"""Depth Anything (V1 and V2, DPT head on a DINOv2 backbone) as the engine's monocular depth estimator.

The network is transformers' `DepthAnythingForDepthEstimation`, the architecture the published
checkpoints were converted to, loaded from a local folder in the Hugging Face layout
(`config.json`, `model.safetensors`, optionally `preprocessor_config.json`); nothing is downloaded.
A metric checkpoint is needed (`"depth_estimation_type": "metric"` in its config), since the point
map is in metres: e.g. Depth-Anything-V2-Metric-Indoor-Small-hf (max depth 20 m) or
-Metric-Outdoor-Small-hf (80 m). A relative checkpoint predicts inverse depth up to an unknown
scale and shift, and is refused rather than passed off as metres.

    from model_suite.depth import register_depth_estimator
    from model_suite.depth_anything import DepthAnythingEstimator
    register_depth_estimator("depth_anything", DepthAnythingEstimator("/models/da2-metric-indoor-small", device="cuda"))

Preprocessing is the checkpoints' own (DPTImageProcessor's): resize keeping the aspect ratio to
about `size` (518) on the side that changes least, each side a multiple of 14, bicubic; scale to
[0, 1]; normalize with ImageNet's mean and std. The prediction is resized back to the image.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np

from .base import Availability

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class DepthAnythingEstimator:
    """``estimator(image (H, W, 3) uint8, intrinsics) -> (H, W) float32 depth in metres`` from a local checkpoint."""

    def __init__(self, path: str | Path, device: str = "cpu", name: str = "depth_anything"):
        self.path = Path(path) if path else None
        self.device = device
        self.name = name
        # A point map per image of a few hundred thousand pixels: worth a GPU worker when there is one.
        self.queue = "gpu" if str(device).startswith("cuda") else "cpu"
        self._model = None
        self._pre = None
        self._lock = threading.Lock()

    def availability(self) -> Availability:
        """Return whether the checkpoint folder is there and holds a metric Depth Anything model."""
        if self.path is None or not self.path.is_dir():
            return Availability(False, f"no checkpoint folder at {self.path} (config.json + model.safetensors)")
        config = self.path / "config.json"
        if not config.is_file() or not any(self.path.glob("*.safetensors")):
            return Availability(False, f"{self.path} needs config.json and model.safetensors (the Hugging Face layout)")
        cfg = json.loads(config.read_text())
        if cfg.get("model_type") != "depth_anything":
            return Availability(False, f"{config} is a {cfg.get('model_type')!r} model, not 'depth_anything'")
        if cfg.get("depth_estimation_type", "relative") != "metric":
            return Availability(False, f"{self.path} predicts relative depth (no scale); use a metric checkpoint")
        return Availability(True, "")

    def load(self) -> None:
        """Load the weights now (once per process); raise RuntimeError if the folder is not a complete checkpoint."""
        with self._lock:
            if self._model is not None:
                return
            available = self.availability()
            if not available.ok:
                raise RuntimeError(f"depth estimator {self.name!r}: {available.reason}")
            from transformers import DepthAnythingForDepthEstimation

            model, info = DepthAnythingForDepthEstimation.from_pretrained(
                str(self.path), local_files_only=True, output_loading_info=True)
            # transformers fills missing weights with random ones and only warns: a folder of another
            # architecture must fail here, not predict noise.
            missing = info.get("missing_keys") or []
            mismatched = info.get("mismatched_keys") or []
            if missing or mismatched:
                raise RuntimeError(f"depth estimator {self.name!r}: {self.path} does not hold this architecture's weights "
                                   f"(missing {list(missing)[:5]}, mismatched {list(mismatched)[:5]})")
            self._pre = _preprocessing(self.path)
            self._model = model.to(self.device).eval()

    def __call__(self, image: np.ndarray, intrinsics: dict | None = None) -> np.ndarray:
        """Return the (H, W) metric depth of an RGB image (the intrinsics are not used: the model assumes its own)."""
        import torch
        import torch.nn.functional as F

        self.load()
        image = np.asarray(image)
        assert image.ndim == 3 and image.shape[2] == 3, f"expected an (H, W, 3) image, got {image.shape}"
        h, w = image.shape[:2]
        pixels = self.preprocess(image).to(self.device)  # (1, 3, h', w')
        with torch.inference_mode():
            predicted = self._model(pixel_values=pixels).predicted_depth  # (1, h', w')
            depth = F.interpolate(predicted[:, None].float(), size=(h, w), mode="bicubic", align_corners=False)[0, 0]
        return depth.clamp_min(0).cpu().numpy().astype(np.float32)

    def preprocess(self, image: np.ndarray):
        """Return the (1, 3, h', w') normalized tensor the network reads for an (H, W, 3) uint8 image."""
        import torch
        import torch.nn.functional as F

        pre = self._pre or _preprocessing(self.path)
        h, w = image.shape[:2]
        out_h, out_w = resized_size(h, w, pre["height"], pre["width"], pre["multiple"], pre["keep_aspect_ratio"])
        x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float()  # (1, 3, H, W)
        x = F.interpolate(x, size=(out_h, out_w), mode="bicubic", align_corners=False).clamp(0, 255) / 255.0
        mean = torch.tensor(pre["mean"]).view(1, 3, 1, 1)
        std = torch.tensor(pre["std"]).view(1, 3, 1, 1)
        return (x - mean) / std


def resized_size(h: int, w: int, size_h: int, size_w: int, multiple: int, keep_aspect_ratio: bool) -> tuple[int, int]:
    """Return DPT's input size: scale the side that changes least, then round each side to a multiple (at least one)."""
    scale_h, scale_w = size_h / h, size_w / w
    if keep_aspect_ratio:
        if abs(1 - scale_w) < abs(1 - scale_h):
            scale_h = scale_w
        else:
            scale_w = scale_h

    def constrain(v):
        return max(multiple, int(round(v / multiple) * multiple))

    return constrain(scale_h * h), constrain(scale_w * w)


def _preprocessing(path: Path | None) -> dict:
    """Read the checkpoint's preprocessor_config.json (Depth Anything's defaults when it has none)."""
    cfg = {}
    if path is not None and (path / "preprocessor_config.json").is_file():
        cfg = json.loads((path / "preprocessor_config.json").read_text())
    size = cfg.get("size") or {"height": 518, "width": 518}
    return {"height": int(size.get("height", 518)), "width": int(size.get("width", 518)),
            "multiple": int(cfg.get("ensure_multiple_of", 14)), "keep_aspect_ratio": bool(cfg.get("keep_aspect_ratio", True)),
            "mean": tuple(cfg.get("image_mean", IMAGENET_MEAN)), "std": tuple(cfg.get("image_std", IMAGENET_STD))}
