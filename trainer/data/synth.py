"""Synthetic samples: isolated renders (pretraining) and render-paste composites (mid-training).

Composites follow the published Flying Occlusions recipe: a target and a closer occluder are
rendered onto a real photograph (scikit-image ships them); the occluded object must keep a
visible fraction in [visible_min, visible_max] and at least `min_visible_pixels`; in a third of
samples the target is the occluder. Placement gives translation and scale targets.

Poses (`DataConfig.poses`):
  upright  as photographs show objects: any yaw about the object's up axis (+y), a small tilt
           (roll ~ N(0, 3 deg), clipped at 10), seen from 10-35 deg above (the elevations of
           multi-view renders); the convention of engine/simulation's composites:
           R = R_x(pitch) R_z(roll) diag(1, -1, -1) R_y(yaw)  (object y up -> camera y down)
  hard     uniformly random 3D rotations, views from below included (the earlier data)
Upright composites also keep the target's unoccluded silhouette at least `min_object_frac` of
the image side (its larger bounding-box side), so the object is big enough to see.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from .render import FOCAL, raycast, shade

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "stereo_motorcycle", "hubble_deep_field",
          "immunohistochemistry", "camera")
ISOLATED_T = np.array([0.0, 0.0, 2.2])   # isolated renders: object 2.2 units in front of the camera
CAMERA_FROM_UPRIGHT = np.diag([1.0, -1.0, -1.0])   # object (y up) -> camera (OpenCV: y down, z forward)
POSES = ("upright", "hard")


def upright_rotation(rng: np.random.Generator) -> np.ndarray:
    """(3, 3) object -> camera rotation of an upright object: any yaw, 10-35 deg elevation, small roll."""
    yaw = rng.uniform(0, 2 * np.pi)
    pitch = np.radians(rng.uniform(10, 35))          # the top of the object tilts towards the camera
    roll = np.radians(np.clip(rng.normal(0, 3), -10, 10))
    return (Rotation.from_euler("xz", [pitch, roll]).as_matrix() @ CAMERA_FROM_UPRIGHT
            @ Rotation.from_euler("y", yaw).as_matrix())


def draw_rotations(rng: np.random.Generator, n: int, poses: str) -> np.ndarray:
    """(n, 3, 3) rotations of the pose distribution `poses` ('upright' or 'hard')."""
    if poses == "hard":
        return Rotation.random(n, random_state=rng).as_matrix().reshape(n, 3, 3)
    if poses != "upright":
        raise ValueError(f"unknown poses {poses!r}: use one of {', '.join(POSES)}")
    return np.stack([upright_rotation(rng) for _ in range(n)])


@dataclass
class Sample:
    """One training sample before view extraction (image at render_size)."""

    image: np.ndarray        # (H, W, 3) uint8
    mask: np.ndarray         # (H, W) bool, visible pixels of the target
    shape_id: int            # index into the shape library (occupancy is per shape)
    rotation: np.ndarray     # (3, 3)
    translation: np.ndarray  # (3,)
    scale: float
    layout_mask: np.ndarray  # (3,) rotation / translation / scale supervised?
    visible_fraction: float


def load_photos() -> list[np.ndarray]:
    """The colour photographs bundled with scikit-image (no network)."""
    import skimage.data as d
    out = []
    for name in PHOTOS:
        img = getattr(d, name)()
        img = img[0] if isinstance(img, tuple) else img   # stereo_motorcycle: (left, right, disparity)
        if img.ndim == 2:
            img = np.stack([img] * 3, -1)
        out.append(np.ascontiguousarray(img[..., :3]).astype(np.uint8))
    return out


def _background(photo: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    import torch
    import torch.nn.functional as F
    h, w = photo.shape[:2]
    side = int(rng.integers(min(h, w) // 2, min(h, w) + 1))
    y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    crop = torch.from_numpy(photo[y:y + side, x:x + side]).permute(2, 0, 1)[None].float()
    out = F.interpolate(crop, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return out[0].permute(1, 2, 0).clamp(0, 255).byte().numpy()


def _albedo(rng):
    return rng.uniform(0.2, 1.0, size=3)


def isolated(shapes: list, size: int, rng: np.random.Generator, poses: str = "hard") -> Sample:
    """Render one shape under a rotation of `poses` on a plain random background."""
    sid = int(rng.integers(len(shapes)))
    R = draw_rotations(rng, 1, poses)[0]
    gid, n, d = raycast([shapes[sid]], [(R, ISOLATED_T, 1.0)], size)
    bg = np.broadcast_to(rng.uniform(40, 220, size=3), (size, size, 3))
    img = shade(gid, n, d, bg, [_albedo(rng)], rng)
    return Sample(img, gid == 0, sid, R, ISOLATED_T.copy(), 1.0, np.array([1.0, 0.0, 0.0]), 1.0)


def _place(rng, z: float, size: int, spread: float) -> np.ndarray:
    """A translation at depth z whose projection lands within `spread` of the image centre."""
    u, v = rng.uniform(-spread, spread, size=2)
    return np.array([u * z / FOCAL, v * z / FOCAL, z])


def bbox_side(mask: np.ndarray) -> int:
    """Larger side of the bounding box of a mask's pixels (0 for an empty mask)."""
    ys, xs = np.nonzero(mask)
    return 0 if len(ys) == 0 else int(max(ys.max() - ys.min(), xs.max() - xs.min()) + 1)


def composite(shapes: list, photos: list[np.ndarray], size: int, rng: np.random.Generator, cfg) -> Sample:
    """Render a target and a closer occluder onto a photograph; retry until the bounds hold."""
    poses = getattr(cfg, "poses", "hard")
    upright = poses == "upright"
    min_side = getattr(cfg, "min_object_frac", 0.0) * size if upright else 0.0
    for _ in range(50):
        a, b = (int(i) for i in rng.integers(len(shapes), size=2))
        Ra, Rb = draw_rotations(rng, 2, poses)
        sa, sb = rng.uniform(0.6, 1.2), rng.uniform(0.4, 0.9)
        # Upright: nearer (2.0-3.2 units) and closer to the centre, so the target spans ~25-60 % of the image
        # side; hard (the earlier set): 2.2-4.0 units, ~19-70 px of 128.
        ta = _place(rng, rng.uniform(2.0, 3.2), size, 0.2) if upright else _place(rng, rng.uniform(2.2, 4.0), size, 0.25)
        zb = ta[2] - rng.uniform(0.8, 1.4)
        # The occluder projects near the target: offset by up to ~0.6 of the target's apparent size.
        off = rng.uniform(-0.6, 0.6, size=2) * sa * FOCAL / ta[2]
        tb = np.array([(ta[0] / ta[2] * FOCAL + off[0]) * zb / FOCAL, (ta[1] / ta[2] * FOCAL + off[1]) * zb / FOCAL, zb])
        gid, n, d = raycast([shapes[a], shapes[b]], [(Ra, ta, sa), (Rb, tb, sb)], size)
        alone, _, _ = raycast([shapes[a]], [(Ra, ta, sa)], size)
        full = int((alone == 0).sum())
        visible = int((gid == 0).sum())
        frac = visible / max(full, 1)
        if not (cfg.visible_min <= frac <= cfg.visible_max and visible >= cfg.min_visible_pixels):
            continue
        if min_side and bbox_side(alone == 0) < min_side:
            continue
        img = shade(gid, n, d, _background(photos[int(rng.integers(len(photos)))], size, rng),
                    [_albedo(rng), _albedo(rng)], rng)
        if rng.uniform() < cfg.occluder_target_frac:   # the occluder becomes the target
            if (gid == 1).sum() < cfg.min_visible_pixels or (min_side and bbox_side(gid == 1) < min_side):
                continue
            return Sample(img, gid == 1, b, Rb, tb, float(sb), np.ones(3), 1.0)
        return Sample(img, gid == 0, a, Ra, ta, float(sa), np.ones(3), frac)
    raise ValueError("could not place a target within the visibility bounds in 50 tries; "
                       "widen --visible-min/--visible-max or lower --min-visible-pixels")
