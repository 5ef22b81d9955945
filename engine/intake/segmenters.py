"""The segmenter Stage 1 asks for masks: the built-in one, or a SAM-class model of yours.

Every segmenter answers ``segment(rgb (H, W, 3) uint8, prompt, key) -> (H, W) bool`` and
``availability() -> (ok, why)``; ``key`` names the image, for segmenters that cache per image (the
built-in one caches its working copy, SAM its image embedding). Configure with ENGINE_SEGMENTER:

- ``builtin`` (default): GrabCut seeded by the prompt (engine/intake/segment.py), CPU only.
- ``http``: a server of yours at ENGINE_SEGMENTER_URL, e.g. SAM or SAM 2 behind a thin wrapper:
  ``GET {url}/health`` -> 200 ``{"model": str}``;
  ``POST {url}/segment`` with ``{"image_png": b64, "image_id": str, "points": [[x, y, 1|0], ...],
  "box": [x0, y0, x1, y1] | null}`` -> 200 ``{"mask_png": b64}`` (8-bit, non-zero = object) or
  ``{"mask": {"size": [h, w], "counts": [...]}}`` (our RLE). Brush strokes are painted here, after.
- ``sam``: Segment Anything loaded in this process from local weights (ENGINE_SEGMENTER_CHECKPOINT,
  ENGINE_SEGMENTER_MODEL = vit_b | vit_l | vit_h), with the ``segment_anything`` package installed.

Nothing is downloaded: a segmenter without its server, package or weights says so, and the
built-in one answers in its place (the answer names which one did).
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections import OrderedDict

import cv2
import numpy as np
import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from engine.intake import masks
from engine.intake.prompts import apply_strokes
from engine.intake.segment import BuiltinSegmenter

log = logging.getLogger("engine.intake")


def _png_b64(rgb):
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(rgb[..., ::-1]))  # cv2 writes BGR
    assert ok, f"PNG encoding failed for an array of shape {rgb.shape}"
    return base64.b64encode(buf.tobytes()).decode()


class HttpSegmenter:
    """Ask a segmentation server of yours (the protocol is in this module's docstring)."""

    name = "http"
    HEALTH_TTL = 30.0  # seconds an answer to /health is trusted

    def __init__(self, url, timeout=10.0):
        self.url = url.rstrip("/") if url else ""
        self.timeout = timeout
        self._health = None

    def _now(self):
        """Return a monotonic clock reading (a seam for tests)."""
        return time.monotonic()

    def availability(self):
        if not self.url:
            return False, "no segmentation server configured: set ENGINE_SEGMENTER_URL"
        if self._health and self._now() - self._health[0] < self.HEALTH_TTL:
            return self._health[1]
        try:
            r = requests.get(f"{self.url}/health", timeout=min(self.timeout, 3.0))
            r.raise_for_status()
            answer = True, f"{r.json().get('model', 'a segmentation server')} at {self.url}"
        except (requests.RequestException, ValueError) as exc:
            answer = False, f"the segmentation server at {self.url} is not answering /health: {exc}"
        self._health = (self._now(), answer)
        return answer

    def segment(self, rgb, prompt, key=None):
        body = {"image_png": _png_b64(rgb), "image_id": str(key or ""), "points": [list(p) for p in prompt.points],
                "box": list(prompt.box) if prompt.box is not None else None}
        r = requests.post(f"{self.url}/segment", json=body, timeout=self.timeout)
        r.raise_for_status()
        answer = r.json()
        height, width = rgb.shape[:2]
        if "mask" in answer:
            mask = masks.decode(answer["mask"], (width, height))
        else:
            raw = cv2.imdecode(np.frombuffer(base64.b64decode(answer["mask_png"]), np.uint8), cv2.IMREAD_GRAYSCALE)
            if raw is None or raw.shape != (height, width):
                raise ValueError(f"the segmentation server answered a mask that is not a {width}x{height} PNG")
            mask = raw > 0
        return apply_strokes(mask, prompt.strokes)


class SamSegmenter:
    """Segment Anything from local weights: one image embedding per image (cached), then a mask per prompt."""

    name = "sam"

    def __init__(self, checkpoint, model_type="vit_b", device="cpu", cache_size=4):
        self.checkpoint, self.model_type, self.device = checkpoint, model_type, device
        self._predictor = None
        self._embeddings = OrderedDict()  # key -> predictor state after set_image
        self._cache_size = cache_size
        self._lock = threading.Lock()  # one predictor: prompts run one at a time

    def availability(self):
        from pathlib import Path

        try:
            import segment_anything  # noqa: F401
        except ImportError:
            return False, "the segment_anything package is not installed (pip install segment-anything)"
        if not self.checkpoint or not Path(self.checkpoint).is_file():
            return False, f"no SAM weights at {self.checkpoint!r}: set ENGINE_SEGMENTER_CHECKPOINT to a local file"
        return True, f"SAM {self.model_type} from {self.checkpoint}"

    def _load(self):
        if self._predictor is None:
            from segment_anything import SamPredictor, sam_model_registry

            model = sam_model_registry[self.model_type](checkpoint=self.checkpoint)
            self._predictor = SamPredictor(model.to(self.device))
        return self._predictor

    def segment(self, rgb, prompt, key=None):
        with self._lock:
            predictor = self._load()
            state = self._embeddings.get(key) if key is not None else None
            if state is None:
                predictor.set_image(np.ascontiguousarray(rgb[..., :3]))
                state = {k: getattr(predictor, k) for k in ("features", "original_size", "input_size", "is_image_set")}
                if key is not None:
                    self._embeddings[key] = state
                    while len(self._embeddings) > self._cache_size:
                        self._embeddings.popitem(last=False)
            else:
                self._embeddings.move_to_end(key)
                for name, value in state.items():
                    setattr(predictor, name, value)
            points = np.array([[x, y] for x, y, _ in prompt.points], np.float32) if prompt.points else None
            labels = np.array([1 if pos else 0 for _, _, pos in prompt.points], np.int32) if prompt.points else None
            box = np.array(prompt.box, np.float32) if prompt.box is not None else None
            # One click is ambiguous (part or whole): SAM gives three masks, keep its best-scored one.
            found, scores, _ = predictor.predict(point_coords=points, point_labels=labels, box=box,
                                                 multimask_output=len(prompt.points) <= 1)
        return apply_strokes(found[int(np.argmax(scores))].astype(bool), prompt.strokes)


_lock = threading.Lock()
_configured = {}


def build(config):
    """Return the segmenter a SEGMENTER settings dict asks for."""
    kind = config.get("KIND", "builtin")
    if kind == "builtin":
        return BuiltinSegmenter()
    if kind == "http":
        return HttpSegmenter(config.get("URL", ""), float(config.get("TIMEOUT", 10.0)))
    if kind == "sam":
        return SamSegmenter(config.get("CHECKPOINT", ""), config.get("MODEL_TYPE", "vit_b"), config.get("DEVICE", "cpu"))
    raise ImproperlyConfigured(f"ENGINE_SEGMENTER is {kind!r}; use builtin, http or sam.")


def segmenters():
    """Return (the configured segmenter, the built-in one), built once per process."""
    with _lock:
        if not _configured:
            configured = build(settings.SEGMENTER)
            _configured["builtin"] = configured if configured.name == "builtin" else BuiltinSegmenter()
            _configured["chosen"] = configured
        return _configured["chosen"], _configured["builtin"]


def segment(rgb, prompt, key=None):
    """Return (mask, the name of the segmenter that made it, a note when the configured one could not)."""
    chosen, builtin = segmenters()
    if chosen is not builtin:
        ok, why = chosen.availability()
        if ok:
            try:
                return chosen.segment(rgb, prompt, key), chosen.name, ""
            except (requests.RequestException, ValueError, KeyError, masks.MaskError) as exc:
                why = f"the {chosen.name} segmenter failed: {exc}"
        log.warning("segmenter %s unavailable, the built-in one answers: %s", chosen.name, why)
        return builtin.segment(rgb, prompt, key), builtin.name, why
    return builtin.segment(rgb, prompt, key), builtin.name, ""


_images = OrderedDict()  # image key -> RGB: each click of a prompt reads the same photograph


def _rgb(image):
    from engine.intake.rendering import load_rgb

    key = f"{image.pk}:{image.sha256[:16]}"
    with _lock:
        if key in _images:
            _images.move_to_end(key)
            return key, _images[key]
    rgb = load_rgb(image)
    with _lock:
        _images[key] = rgb
        while len(_images) > 4:
            _images.popitem(last=False)
    return key, rgb


def propose(image, points, box, strokes):
    """Return the answer to a segmentation request on `image` (validated fields of SegmentSerializer)."""
    from engine.core.errors import EngineError
    from engine.intake.prompts import Prompt, Stroke

    width, height = image.width, image.height
    for x, y, _ in points:
        if not (0 <= x < width and 0 <= y < height):
            raise EngineError(f"Click ({x:.0f}, {y:.0f}) is outside the {width}x{height} image.",
                              fields={"points": ["outside the image"]})
    if box is not None:
        x0, y0, x1, y1 = box
        x0, x1, y0, y1 = max(0.0, min(x0, x1)), min(float(width), max(x0, x1)), max(0.0, min(y0, y1)), \
            min(float(height), max(y0, y1))
        if x1 - x0 < 2 or y1 - y0 < 2:
            raise EngineError(f"The box {box} holds less than 2x2 pixels of the {width}x{height} image; drag a larger one.",
                              fields={"box": ["too small or outside the image"]})
        box = (x0, y0, x1, y1)
    prompt = Prompt(points=tuple((x, y, bool(p)) for x, y, p in points), box=box,
                    strokes=tuple(Stroke(s["positive"], s["radius"], tuple(map(tuple, s["path"]))) for s in strokes))
    started = time.perf_counter()
    key, rgb = _rgb(image)
    try:
        mask, used, note = segment(rgb, prompt, key)
    except ValueError as exc:
        raise EngineError(str(exc), fields={"points": [str(exc)]}) from None
    fraction = float(mask.mean())
    answer = {"mask": masks.encode(mask), "area": int(mask.sum()), "area_fraction": round(fraction, 4),
              "bbox": masks.bbox(mask) if mask.any() else None, "segmenter": used,
              "ms": round(1000 * (time.perf_counter() - started), 1)}
    warning = masks.degenerate(mask, settings.ENGINE["MASK_MAX_FRACTION"])
    if warning:
        answer["warning"] = warning
    if note:
        answer["note"] = note
    return answer
