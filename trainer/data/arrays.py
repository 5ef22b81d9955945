"""In-memory datasets of equal-length numpy arrays, served as batches of tensors."""
from __future__ import annotations

import numpy as np
import torch

from .pack import unpack_occ

SKIP = ("visible", "shape_id")


class ArrayDataset:
    """Rows of `arrays` (dict name -> (N, ...) array). Keys starting with 'occ' are packed bits."""

    def __init__(self, arrays: dict, grid: int, image_size: int, snapshot: str):
        self.arrays, self.grid, self.image_size, self.snapshot = arrays, grid, image_size, snapshot

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
                            f"{self.snapshot}[{len(idx)}]")


def concat(datasets: list[ArrayDataset]) -> ArrayDataset:
    """Concatenate datasets with the same grid, image size and fields."""
    if len(datasets) == 1:
        return datasets[0]
    a = datasets[0]
    for d in datasets[1:]:
        if (d.grid, d.image_size, sorted(d.arrays)) != (a.grid, a.image_size, sorted(a.arrays)):
            raise ValueError(f"cannot mix datasets {a.snapshot} and {d.snapshot}: grid, image size or fields differ")
    arrays = {k: np.concatenate([d.arrays[k] for d in datasets]) for k in a.arrays}
    return ArrayDataset(arrays, a.grid, a.image_size, "+".join(d.snapshot for d in datasets))
