"""Adapter for an image-to-3D server the user runs (e.g. SAM 3D Objects or TRELLIS behind HTTP).

Protocol (JSON over HTTP; write a thin wrapper around your model to speak it):

``GET  {url}/health``   -> 200 ``{"model": "name", "version": "x"}``
``POST {url}/generate`` with ``{"image_png": b64, "mask_png": b64, "n": int, "seed": int,
"category": str, "description": str, "intrinsics": {...} | null}``
-> 200 ``{"model": str, "version": str, "candidates": [{"mesh": b64 GLB/OBJ/PLY/STL/OFF,
"pose": {"R": 3x3, "t": [3], "s": float} | null, "seed": int}]}``

Poses use our convention (OpenCV camera, p_cam = s R p_obj + t); meshes may be in any frame and
are re-normalized here with the pose adjusted to match.
"""

from __future__ import annotations

import base64
import time

import cv2
import numpy as np
import requests

from .base import Availability, CandidateMesh, Generator
from .candidates import make_candidate
from .meshio import load_mesh
from .meshproc import MeshError


def _png_b64(array: np.ndarray) -> str:
    ok, buf = cv2.imencode(".png", array)
    assert ok, f"PNG encoding failed for an array of shape {array.shape}"
    return base64.b64encode(buf.tobytes()).decode()


class ExternalGenerator(Generator):
    """Call a user-run image-to-3D server and turn its answers into candidates."""

    name = "external"
    version = "1"
    kind = "external"

    HEALTH_TTL = 30.0  # seconds an answer to /health is trusted; the engine asks before every object

    def __init__(self, url: str | None, timeout: float = 120.0, name: str | None = None, queue: str = "cpu"):
        self.url = url.rstrip("/") if url else None
        self.timeout = timeout
        self._health: tuple[float, Availability] | None = None
        self.queue = queue  # the server does the heavy lifting; the worker only waits on HTTP
        if name:
            self.name = name

    def _now(self) -> float:
        """Return a monotonic clock reading (a seam for tests)."""
        return time.monotonic()

    def availability(self) -> Availability:
        if not self.url:
            return Availability(False, "no external server configured: set 'external_url' in the suite config")
        if self._health and self._now() - self._health[0] < self.HEALTH_TTL:
            return self._health[1]
        self._health = (self._now(), self._check_health())
        return self._health[1]

    def _check_health(self) -> Availability:
        try:
            r = requests.get(f"{self.url}/health", timeout=min(self.timeout, 5.0))
            r.raise_for_status()
            info = r.json()
        except (requests.RequestException, ValueError) as exc:
            return Availability(False, f"external server at {self.url} is not answering /health: {exc}")
        return Availability(True, f"{info.get('model', '?')} {info.get('version', '')}".strip())

    def generate(self, image, mask, context, n, seed) -> list[CandidateMesh]:
        """POST the image and mask; return the server's meshes as candidates (bad meshes are skipped and logged in extra)."""
        started = time.perf_counter()
        body = {"image_png": _png_b64(np.asarray(image)[:, :, ::-1]),  # cv2 writes BGR
                "mask_png": _png_b64(np.asarray(mask, np.uint8) * 255), "n": int(n), "seed": int(seed),
                "category": context.category, "description": context.description, "intrinsics": context.intrinsics}
        r = requests.post(f"{self.url}/generate", json=body, timeout=self.timeout)
        r.raise_for_status()
        reply = r.json()
        elapsed = time.perf_counter() - started
        out, skipped = [], []
        for i, item in enumerate(reply.get("candidates", [])):
            if len(out) == n:
                break
            try:
                v, f = load_mesh(base64.b64decode(item["mesh"]))
            except (MeshError, KeyError, ValueError) as exc:
                skipped.append(f"candidate {i}: {exc}")
                continue
            c = make_candidate(self, v, f, int(item.get("seed", seed)), time.perf_counter(), item.get("pose"),
                               server_model=reply.get("model"), server_version=reply.get("version"), url=self.url)
            c.seconds += elapsed / max(len(reply.get("candidates", [])), 1)
            out.append(c)
        for c in out:
            c.extra["skipped"] = skipped
        return out
