"""The data cache: samples generated once into .npz shards (+ index.json), read fully into memory.

Shard arrays (N samples): views (N,2,4,S,S) uint8, occ (N, G^3/8) packed bits, rotation (N,3,3),
translation (N,3), scale (N,), layout_mask (N,3), visible (N,). DPO pair shards add occ_rejected
(the `occ` of a pair shard is the chosen shape).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .arrays import ArrayDataset
from .pack import pack_occ
from .shapes import shape_library
from .render import voxelize
from .synth import composite, isolated, load_photos
from .views import make_views

FIELDS = ("views", "occ", "rotation", "translation", "scale", "layout_mask")


def write_shards(out: str | Path, arrays: dict, meta: dict, shard_size: int) -> dict:
    """Write arrays (each with N rows) as shards plus index.json; return the index."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    n = len(arrays["views"])
    shards, h = [], hashlib.sha256()
    for i, start in enumerate(range(0, n, shard_size)):
        name = f"shard-{i:05d}.npz"
        part = {k: np.ascontiguousarray(v[start:start + shard_size]) for k, v in arrays.items()}
        np.savez(out / name, **part)
        h.update((out / name).read_bytes())
        shards.append(name)
    index = {**meta, "n": n, "shards": shards, "snapshot": h.hexdigest()[:16]}
    (out / "index.json").write_text(json.dumps(index, indent=2))
    return index


def prepare(cfg, progress: bool = True) -> dict:
    """Generate `cfg.n` samples of `cfg.kind` into shards at `cfg.out`; return the index."""
    if cfg.kind not in ("render", "composite"):
        raise ValueError(f"unknown data kind {cfg.kind!r}: use 'render', 'composite' or 'pairs'")
    names_meshes = shape_library(cfg.shapes, cfg.primitives, seed=cfg.seed)
    shapes = [m for _, m in names_meshes]
    occ_by_shape = [pack_occ(voxelize(m, cfg.grid, seed=i)[None])[0]
                    for i, m in enumerate(tqdm(shapes, desc="voxelize", disable=not progress))]
    photos = load_photos() if cfg.kind == "composite" else []
    rows = {k: [] for k in FIELDS + ("visible", "shape_id")}
    for i in tqdm(range(cfg.n), desc=f"prepare {cfg.kind}", disable=not progress):
        rng = np.random.default_rng([cfg.seed, i])
        s = isolated(shapes, cfg.render_size, rng) if cfg.kind == "render" else composite(
            shapes, photos, cfg.render_size, rng, cfg)
        rows["views"].append(make_views(s.image, s.mask, cfg.image_size))
        rows["occ"].append(occ_by_shape[s.shape_id])
        rows["rotation"].append(s.rotation)
        rows["translation"].append(s.translation)
        rows["scale"].append(s.scale)
        rows["layout_mask"].append(s.layout_mask)
        rows["visible"].append(s.visible_fraction)
        rows["shape_id"].append(s.shape_id)
    arrays = {k: np.stack(v).astype(np.float32) if k in ("rotation", "translation", "scale", "layout_mask", "visible")
              else np.stack(v) for k, v in rows.items()}
    meta = {"kind": cfg.kind, "grid": cfg.grid, "image_size": cfg.image_size, "seed": cfg.seed,
            "shapes": [n for n, _ in names_meshes]}
    return write_shards(cfg.out, arrays, meta, cfg.shard_size)


def load_cache(folder: str | Path) -> ArrayDataset:
    """Read every shard of a cache folder into memory."""
    folder = Path(folder)
    idx_path = folder / "index.json"
    if not idx_path.exists():
        raise FileNotFoundError(f"{folder} is not a data cache (no index.json); run `python -m trainer prepare` first")
    index = json.loads(idx_path.read_text())
    parts = [np.load(folder / s) for s in index["shards"]]
    arrays = {k: np.concatenate([p[k] for p in parts]) for k in parts[0].files}
    return ArrayDataset(arrays, index["grid"], index["image_size"], f"cache:{index['snapshot']}")
