"""Datasets of equal-length numpy arrays (in memory or memory-mapped shards), served as batches of tensors."""
from __future__ import annotations

import hashlib

import numpy as np
import torch

from .pack import unpack_occ

SKIP = ("visible", "shape_id")


class ShardedArray:
    """Several (n_i, ...) arrays (memory-mapped shards) read as one (N, ...) array.

    Indexing with an int, a slice or an index array reads only those rows; np.asarray(a)
    reads everything (what np.unique or np.concatenate of a plain array would do).
    """

    def __init__(self, parts):
        self.parts = list(parts)
        self.offsets = np.cumsum([0] + [len(p) for p in self.parts])
        self.shape = (int(self.offsets[-1]),) + tuple(self.parts[0].shape[1:])
        self.dtype = self.parts[0].dtype

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index):
        if isinstance(index, slice):
            index = np.arange(len(self))[index]
        idx = np.asarray(index, dtype=np.int64)
        flat = np.where(idx < 0, idx + len(self), idx).reshape(-1)
        if flat.size and (flat.min() < 0 or flat.max() >= len(self)):
            raise IndexError(f"row index out of range for {len(self)} rows")
        shard = np.searchsorted(self.offsets, flat, side="right") - 1
        out = np.empty((len(flat),) + self.shape[1:], self.dtype)
        for s in np.unique(shard):
            sel = shard == s
            out[sel] = self.parts[s][flat[sel] - self.offsets[s]]
        return out.reshape(idx.shape + self.shape[1:])

    def __array__(self, dtype=None, copy=None):
        a = np.concatenate([np.asarray(p) for p in self.parts])
        return a if dtype is None else a.astype(dtype)

    @staticmethod
    def join(arrays) -> "ShardedArray":
        """One array of the rows of several (plain or sharded) arrays, nothing copied."""
        return ShardedArray([p for a in arrays for p in (a.parts if isinstance(a, ShardedArray) else [a])])


class GatheredArray:
    """Rows table[index[i]]: a per-row view of a table of distinct rows, stored once (e.g. the latents
    of a dataset that draws each library shape many times)."""

    def __init__(self, table: np.ndarray, index: np.ndarray):
        self.table, self.index = table, np.asarray(index, dtype=np.int64)
        self.shape, self.dtype = (len(self.index),) + table.shape[1:], table.dtype

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, index):
        return self.table[self.index[index]]

    def __array__(self, dtype=None, copy=None):
        a = self.table[self.index]
        return a if dtype is None else a.astype(dtype)


def unique_rows(a, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """(first row of each distinct value (U,), inverse (N,)) of an (N, K) array, read chunk by chunk,
    so a memory-mapped array is never loaded whole; rows are told apart by their sha1."""
    first: dict[bytes, int] = {}
    reps, inverse = [], np.empty(len(a), np.int64)
    for s in range(0, len(a), chunk):
        for j, row in enumerate(np.ascontiguousarray(a[s:s + chunk])):
            key = hashlib.sha1(row.tobytes()).digest()
            if key not in first:
                first[key] = len(reps)
                reps.append(s + j)
            inverse[s + j] = first[key]
    return np.asarray(reps, np.int64), inverse


class ArrayDataset:
    """Rows of `arrays` (dict name -> (N, ...) array). Keys starting with 'occ' are packed bits."""

    def __init__(self, arrays: dict, grid: int, image_size: int, snapshot: str, row_categories: list | None = None):
        self.arrays, self.grid, self.image_size, self.snapshot = arrays, grid, image_size, snapshot
        # Each row's category name (None: unknown), where the source names its shapes (see loader.open_dataset).
        self.row_categories = row_categories

    def __len__(self) -> int:
        return len(self.arrays["views"])

    def batch(self, indices) -> dict:
        """Tensors for the given rows; occupancies unpacked to (B, G, G, G) float."""
        idx = np.asarray(indices, dtype=np.int64)
        out = {}
        for k, v in self.arrays.items():
            if k.startswith("occ"):
                out[k] = torch.from_numpy(unpack_occ(v[idx], self.grid)).float()
            elif k not in SKIP:
                out[k] = torch.from_numpy(np.ascontiguousarray(v[idx]))
        return out

    def subset(self, indices) -> "ArrayDataset":
        """A dataset of some rows (e.g. a held-out split)."""
        idx = np.asarray(indices, dtype=np.int64)
        return ArrayDataset({k: v[idx] for k, v in self.arrays.items()}, self.grid, self.image_size,
                            f"{self.snapshot}[{len(idx)}]",
                            None if self.row_categories is None else [self.row_categories[i] for i in idx])


def concat(datasets: list[ArrayDataset]) -> ArrayDataset:
    """Concatenate datasets with the same grid, image size and fields."""
    if len(datasets) == 1:
        return datasets[0]
    a = datasets[0]
    served = lambda d: sorted(k for k in d.arrays if k not in SKIP)
    for d in datasets[1:]:
        if (d.grid, d.image_size, served(d)) != (a.grid, a.image_size, served(a)):
            raise ValueError(f"cannot mix datasets {a.snapshot} and {d.snapshot}: grid, image size or fields differ")
    # Metadata a batch never serves (SKIP: a cache's shape ids) is kept only where every part has it, so an engine
    # export mixes with a cache.
    arrays = {k: ShardedArray.join([d.arrays[k] for d in datasets]) for k in a.arrays
              if all(k in d.arrays for d in datasets)}
    return ArrayDataset(arrays, a.grid, a.image_size, "+".join(d.snapshot for d in datasets))
