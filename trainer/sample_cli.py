"""`python -m trainer sample`: samples for one image + mask, written as .npz (+ .ply surface)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from .checkpoints import load_checkpoint
from .config import SampleRunConfig
from .sampling import at_temperature, sample


def occupancy_to_mesh(occ: np.ndarray, level: float = 0.5):
    """(G,G,G) probabilities -> (vertices in the unit cube, faces) by marching cubes, or None if empty."""
    from skimage.measure import marching_cubes
    if occ.max() < level or occ.min() > level:
        return None
    g = occ.shape[0]
    v, f, _, _ = marching_cubes(np.pad(occ, 1), level)
    return (v - 1 + 0.5) / g - 0.5, f


def _open_image(path: str, flag: str) -> Image.Image:
    """Open an image file, or raise a one-line error naming the flag (a missing file stays FileNotFoundError)."""
    try:
        img = Image.open(path)
        img.load()
        return img
    except FileNotFoundError:
        raise
    except (OSError, Image.DecompressionBombError, ValueError, SyntaxError) as e:
        raise ValueError(f"{flag} {path}: not a readable image ({e})") from None


def sample_to_folder(cfg: SampleRunConfig) -> list[Path]:
    """Sample and write sample-XX.npz (occupancy, rotation, translation, scale) and sample-XX.ply."""
    import trimesh
    if not (cfg.ckpt and cfg.image and cfg.mask):
        raise ValueError("sample needs --ckpt, --image and --mask")
    model, _ = load_checkpoint(cfg.ckpt)
    at_temperature(model, getattr(cfg, "temperature", 0.0))
    img = np.asarray(_open_image(cfg.image, "--image").convert("RGB"))
    m = np.asarray(_open_image(cfg.mask, "--mask").convert("L")) > 0
    if m.shape != img.shape[:2]:
        raise ValueError(f"mask {cfg.mask} is {m.shape[::-1]} px but the image is {img.shape[1::-1]} px")
    category = getattr(cfg, "category", "")
    if category and not model.cfg.category_condition:
        raise ValueError(f"--category {category}: checkpoint {cfg.ckpt} does not condition on the category")
    if category and category not in model.cfg.categories and not model.cfg.category_text:
        raise ValueError(f"--category {category}: not in the checkpoint's vocabulary ({', '.join(model.cfg.categories)})")
    # Sample before the folder exists, so a failure (a missing sentence model for a new name) leaves nothing.
    results = list(sample(model, img, m, cfg.n, cfg.seed, steps=cfg.steps or None, mode=cfg.mode,
                          category=category or None))
    out_dir = Path(cfg.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, r in enumerate(results):
        p = out_dir / f"sample-{i:02d}.npz"
        np.savez(p, occupancy=r.occupancy, rotation=r.rotation, translation=r.translation, scale=r.scale)
        paths.append(p)
        mesh = occupancy_to_mesh(r.occupancy)
        if mesh is not None:
            trimesh.Trimesh(*mesh).export(out_dir / f"sample-{i:02d}.ply")
            paths.append(out_dir / f"sample-{i:02d}.ply")
    return paths
