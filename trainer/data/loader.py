"""Open any training source (cache folder or engine export) as one dataset."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .arrays import ArrayDataset, concat
from .cache import load_cache, shape_names
from .export import is_export, load_export, read_jsonl


def open_dataset(paths: list[str] | str, grid: int, image_size: int, kind: str = "samples",
                 progress: bool = True) -> ArrayDataset:
    """Concatenate the sources; check they match the model's grid and view size."""
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    if not paths:
        raise ValueError("no training data given: pass --data FOLDER (a `prepare` cache or an engine export)")
    parts, categories = [], []
    for p in paths:
        if is_export(p):
            parts.append(load_export(p, grid, image_size, kind, progress))
            categories += parts[-1].row_categories or [None] * len(parts[-1])
            continue
        ds = load_cache(p)
        if (ds.grid, ds.image_size) != (grid, image_size):
            raise ValueError(f"cache {p} has grid {ds.grid} and views {ds.image_size}px but the model expects "
                             f"grid {grid} and {image_size}px: re-run `prepare --grid {grid} --image-size {image_size}`")
        if kind == "pairs" and "occ_rejected" not in ds.arrays:
            raise ValueError(f"cache {p} holds samples, not preference pairs (no occ_rejected)")
        parts.append(ds)
        categories += cache_categories(ds, p) or [None] * len(ds)
    out = concat(parts)
    out.row_categories = categories
    return out


def cache_categories(ds: ArrayDataset, folder) -> list[str] | None:
    """The category of every row of a cache, from its shape names (None when it names no shapes)."""
    from ..references import row_categories
    return row_categories(ds, shape_names(folder))


def data_vocabulary(paths: list[str]) -> list[str]:
    """The sorted categories of the rows of some sources: a cache's shape names, an export's Stage 1 categories."""
    found = set()
    for p in [paths] if isinstance(paths, (str, Path)) else paths:
        if is_export(p):
            found.update(row.get("category") for row in read_jsonl(Path(p) / "samples.jsonl"))
        else:
            found.update(cache_categories(load_cache(p), p) or [])
    return sorted(c for c in found if c)


def attach_categories(dataset: ArrayDataset, vocabulary) -> int:
    """Add a `category` array from open_dataset's row categories; return how many rows have one.

    vocabulary: a list of names (index into it, -1 = none or unknown), or a model: one given the category reads
    the names with `category_ids` (a model given names by their embedding, ModelConfig.category_text, keeps those
    outside its vocabulary), any other indexes its cfg.categories."""
    names = dataset.row_categories or [None] * len(dataset)
    if hasattr(vocabulary, "category_ids") and vocabulary.cfg.category_condition:
        ids = vocabulary.category_ids(names).numpy().astype(np.int64)
    else:
        vocabulary = vocabulary.cfg.categories if hasattr(vocabulary, "cfg") else vocabulary
        index = {c: i for i, c in enumerate(vocabulary)}
        ids = np.array([index.get(c, -1) if c is not None else -1 for c in names], dtype=np.int64)
    dataset.arrays["category"] = ids
    return int((ids >= 0).sum())
