"""Open any training source (cache folder or engine export) as one dataset."""
from __future__ import annotations

from pathlib import Path

from .arrays import ArrayDataset, concat
from .cache import load_cache
from .export import is_export, load_export


def open_dataset(paths: list[str] | str, grid: int, image_size: int, kind: str = "samples",
                 progress: bool = True) -> ArrayDataset:
    """Concatenate the sources; check they match the model's grid and view size."""
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    if not paths:
        raise ValueError("no training data given: pass --data FOLDER (a `prepare` cache or an engine export)")
    parts = []
    for p in paths:
        if is_export(p):
            parts.append(load_export(p, grid, image_size, kind, progress))
            continue
        ds = load_cache(p)
        if (ds.grid, ds.image_size) != (grid, image_size):
            raise ValueError(f"cache {p} has grid {ds.grid} and views {ds.image_size}px but the model expects "
                             f"grid {grid} and {image_size}px: re-run `prepare --grid {grid} --image-size {image_size}`")
        if kind == "pairs" and "occ_rejected" not in ds.arrays:
            raise ValueError(f"cache {p} holds samples, not preference pairs (no occ_rejected)")
        parts.append(ds)
    return concat(parts)
