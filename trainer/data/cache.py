"""The data cache: samples generated once into shards (+ index.json), memory-mapped when read.

A cache folder holds `shard-XXXXX/` folders, one .npy file per field, and index.json. Fields
(N rows each): views (N,2,4,S,S) uint8, occ (N, G^3/8) packed bits, rotation (N,3,3),
translation (N,3), scale (N,), layout_mask (N,3), visible (N,), shape_id (N,). DPO pair
caches add occ_rejected (their `occ` is the chosen shape).

`prepare` writes each shard as soon as its rows exist (into a temporary folder, then renamed),
so it holds one shard in memory whatever n is, and a killed run resumes at the first shard it
had not finished: row i depends only on (seed, i), so the resumed cache is the same, byte for
byte, as one written in a single run. `load_cache` memory-maps the .npy files, so a cache larger
than RAM (100k rows of the gpu preset hold ~40 GB of views) opens at once and a batch reads only
its own rows. Caches of the earlier format (shard-XXXXX.npz) still load, into memory.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .arrays import ArrayDataset, ShardedArray
from .pack import pack_occ
from .shapes import shape_library
from .render import voxelize
from .synth import POSES, composite, isolated, load_photos
from .views import make_views

FIELDS = ("views", "occ", "rotation", "translation", "scale", "layout_mask", "visible", "shape_id")
FLOAT_FIELDS = ("rotation", "translation", "scale", "layout_mask", "visible")
PROGRESS = "prepare.json"   # a cache being written: its settings and the hashes of the finished shards


def _write_json(path: Path, obj) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2))
    os.replace(tmp, path)


def _plain(obj):
    """obj as it reads back from JSON (tuples become lists), so settings compare equal after a restart."""
    return json.loads(json.dumps(obj))


class _Hashing:
    """A write-only file that feeds every byte written to a hash."""

    def __init__(self, f, h):
        self.f, self.h = f, h

    def write(self, b):
        self.h.update(b)
        return self.f.write(b)


class ShardWriter:
    """Writes a cache one shard at a time and resumes a partial cache written with the same `meta`.

    Progress lives in prepare.json (meta + the sha256 of each finished shard); index.json is
    written last, so a folder with index.json is always complete.
    """

    def __init__(self, out: str | Path, meta: dict, n: int, shard_size: int):
        self.out, self.n, self.shard_size = Path(out), n, shard_size
        self.meta = _plain({**meta, "n": n, "shard_size": shard_size})
        self.hashes: list[str] = []
        progress = self.out / PROGRESS
        if progress.exists():
            old = json.loads(progress.read_text())
            if old["meta"] != self.meta:
                changed = sorted(k for k in set(old["meta"]) | set(self.meta) if old["meta"].get(k) != self.meta.get(k))
                raise ValueError(f"{self.out} holds a partial cache made with other settings ({', '.join(changed)} "
                                 "differ): use another --out, or delete the folder to start over")
            self.hashes = old["hashes"]
        self.out.mkdir(parents=True, exist_ok=True)

    @property
    def n_shards(self) -> int:
        return -(-self.n // self.shard_size)

    @property
    def done(self) -> int:
        """Shards already written (a resumed cache starts at this one)."""
        return len(self.hashes)

    def rows(self, shard: int) -> range:
        return range(shard * self.shard_size, min(self.n, (shard + 1) * self.shard_size))

    def write(self, shard: int, arrays: dict) -> None:
        """Write shard number `shard` (the next one) from arrays of its rows, atomically."""
        assert shard == self.done, f"shard {shard} written out of order (next is {self.done})"
        name = f"shard-{shard:05d}"
        final, tmp = self.out / name, self.out / (name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(final, ignore_errors=True)      # a shard renamed just before a kill, not yet recorded
        tmp.mkdir()
        h = hashlib.sha256()
        for k in sorted(arrays):
            h.update(k.encode())
            with open(tmp / f"{k}.npy", "wb") as f:      # hashed as written, not read back
                np.save(_Hashing(f, h), np.ascontiguousarray(arrays[k]))
        os.replace(tmp, final)
        self.hashes.append(h.hexdigest())
        _write_json(self.out / PROGRESS, {"meta": self.meta, "hashes": self.hashes})

    def finish(self) -> dict:
        """Write index.json (the snapshot id hashes every shard) and return it."""
        assert self.done == self.n_shards, f"{self.done} of {self.n_shards} shards written"
        snapshot = hashlib.sha256("".join(self.hashes).encode()).hexdigest()[:16]
        index = {**self.meta, "shards": [f"shard-{i:05d}" for i in range(self.n_shards)], "snapshot": snapshot}
        _write_json(self.out / "index.json", index)
        (self.out / PROGRESS).unlink()
        return index


def write_shards(out: str | Path, arrays: dict, meta: dict, shard_size: int) -> dict:
    """Write in-memory arrays (each with N rows) as a new cache at `out`, replacing any there; return the index."""
    out = Path(out)
    for stale in [out / "index.json", out / PROGRESS, *out.glob("shard-*")]:
        shutil.rmtree(stale) if stale.is_dir() else stale.unlink(missing_ok=True)
    writer = ShardWriter(out, meta, len(arrays["views"]), shard_size)
    for i in range(writer.n_shards):
        r = writer.rows(i)
        writer.write(i, {k: v[r.start:r.stop] for k, v in arrays.items()})
    return writer.finish()


def _settings(cfg) -> dict:
    """The DataConfig fields that decide the rows (all but the output folder)."""
    return {k: v for k, v in asdict(cfg).items() if k != "out"}


def prepare(cfg, progress: bool = True) -> dict:
    """Generate `cfg.n` samples of `cfg.kind` into shards at `cfg.out`; return the index.

    A complete cache made with the same settings is returned as it is; a partial one is resumed.
    """
    if cfg.kind not in ("render", "composite"):
        raise ValueError(f"unknown data kind {cfg.kind!r}: use 'render', 'composite' or 'pairs'")
    if cfg.poses not in POSES:
        raise ValueError(f"unknown poses {cfg.poses!r}: use one of {', '.join(POSES)}")
    if cfg.n < 1 or cfg.shard_size < 1:
        raise ValueError(f"n and shard_size must be at least 1, got n={cfg.n}, shard_size={cfg.shard_size}")
    out = Path(cfg.out)
    if (out / "index.json").exists():
        index = json.loads((out / "index.json").read_text())
        if index.get("settings") == _plain(_settings(cfg)):
            return index
        raise ValueError(f"{out} already holds a cache made with other settings: use another --out, "
                         "or delete the folder to replace it")
    names_meshes = shape_library(cfg.shapes, cfg.primitives, seed=cfg.seed)
    meta = {"kind": cfg.kind, "grid": cfg.grid, "image_size": cfg.image_size, "seed": cfg.seed,
            "shapes": [n for n, _ in names_meshes], "settings": _settings(cfg)}
    writer = ShardWriter(out, meta, cfg.n, cfg.shard_size)
    if writer.done == writer.n_shards:
        return writer.finish()
    shapes = [m for _, m in names_meshes]
    occ_by_shape = [pack_occ(voxelize(m, cfg.grid, seed=i)[None])[0]
                    for i, m in enumerate(tqdm(shapes, desc="voxelize", disable=not progress))]
    photos = load_photos() if cfg.kind == "composite" else []
    start = writer.rows(writer.done).start
    bar = tqdm(total=cfg.n, initial=start, desc=f"prepare {cfg.kind}", disable=not progress)
    for shard in range(writer.done, writer.n_shards):
        rows = {k: [] for k in FIELDS}
        for i in writer.rows(shard):
            rng = np.random.default_rng([cfg.seed, i])
            s = isolated(shapes, cfg.render_size, rng, cfg.poses) if cfg.kind == "render" else composite(
                shapes, photos, cfg.render_size, rng, cfg)
            rows["views"].append(make_views(s.image, s.mask, cfg.image_size))
            rows["occ"].append(occ_by_shape[s.shape_id])
            rows["rotation"].append(s.rotation)
            rows["translation"].append(s.translation)
            rows["scale"].append(s.scale)
            rows["layout_mask"].append(s.layout_mask)
            rows["visible"].append(s.visible_fraction)
            rows["shape_id"].append(s.shape_id)
            bar.update()
        writer.write(shard, {k: np.stack(v).astype(np.float32) if k in FLOAT_FIELDS else np.stack(v)
                             for k, v in rows.items()})
    bar.close()
    return writer.finish()


def shape_names(folder: str | Path) -> list[str] | None:
    """The shape library's names of a cache (row i shows shape_names[shape_id[i]]), None if it has none."""
    index = Path(folder) / "index.json"
    return json.loads(index.read_text()).get("shapes") if index.exists() else None


def load_cache(folder: str | Path) -> ArrayDataset:
    """Open a cache folder: shard folders memory-mapped, earlier .npz shards read into memory."""
    folder = Path(folder)
    idx_path = folder / "index.json"
    if not idx_path.exists():
        hint = (" (a `prepare` run was interrupted: run the same command again to resume it)"
                if (folder / PROGRESS).exists() else "; run `python -m trainer prepare` first")
        raise FileNotFoundError(f"{folder} is not a data cache (no index.json){hint}")
    index = json.loads(idx_path.read_text())
    if index["shards"][0].endswith(".npz"):
        parts = [np.load(folder / s) for s in index["shards"]]
        arrays = {k: np.concatenate([p[k] for p in parts]) for k in parts[0].files}
    else:
        fields = sorted(p.stem for p in (folder / index["shards"][0]).glob("*.npy"))
        arrays = {k: ShardedArray([np.load(folder / s / f"{k}.npy", mmap_mode="r") for s in index["shards"]])
                  for k in fields}
    return ArrayDataset(arrays, index["grid"], index["image_size"], f"cache:{index['snapshot']}")
