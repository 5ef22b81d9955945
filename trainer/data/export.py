"""The engine's iteration export (`manage.py export_iteration`) as a dataset.

Folder layout: manifest.json, samples.jsonl (D+ samples), pairs.jsonl (preference pairs), and
files/ (images, masks, meshes; paths in the rows are relative to the folder). Meshes are in the
object frame, normalised to the unit cube; pose is p_cam = scale * R @ p_obj + t (OpenCV camera).
Pairs whose rejected side came from a non-model generator (dpo_eligible false) are left out.

Meshes are read exactly, as stored (no vertex merging): the engine writes binary PLY (format
version 2). A quantized glTF (KHR_mesh_quantization, as the engine's version-1 exports held) is
refused rather than misread: trimesh returns its raw integers, which voxelise to a full grid.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import trimesh
from PIL import Image
from tqdm import tqdm

from .arrays import ArrayDataset
from .pack import pack_occ
from .render import voxelize
from .views import make_views


def read_jsonl(path: Path) -> list[dict]:
    """Rows of a JSON Lines file ([] when it is absent)."""
    if not path.exists():
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


# The export format versions this reader understands (the manifest's format.version; 1 when absent).
FORMAT_VERSIONS = (1, 2)
# glTF extensions whose data trimesh returns undecoded: reading such a file would give wrong geometry.
_UNDECODED = {"KHR_mesh_quantization", "EXT_meshopt_compression", "KHR_draco_mesh_compression"}


def read_mesh(path: Path) -> trimesh.Trimesh:
    """Load one mesh file exactly as stored, refusing glTF encodings trimesh would misread."""
    with open(path, "rb") as f:
        head = f.read(20)
        if head[:4] == b"glTF":
            (json_len,) = struct.unpack("<I", head[12:16])
            used = set(json.loads(f.read(json_len)).get("extensionsUsed", []))
            if used & _UNDECODED:
                raise ValueError(f"{path} is a glTF with {', '.join(sorted(used & _UNDECODED))}, which trimesh "
                                 "does not decode; re-export the iteration (manage.py export_iteration writes PLY)")
    mesh = trimesh.load(str(path), force="mesh", process=False)
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise ValueError(f"{path} holds no triangles")
    return mesh


def is_export(folder: str | Path) -> bool:
    """True when the folder looks like an engine export."""
    return (Path(folder) / "manifest.json").exists() and (Path(folder) / "samples.jsonl").exists()


class _Reader:
    """Loads images, masks and meshes of one export, voxelising each mesh once."""

    def __init__(self, folder: Path, grid: int, image_size: int):
        self.folder, self.grid, self.image_size, self._occ = folder, grid, image_size, {}

    def file(self, rel: str) -> Path:
        p = self.folder / rel
        if not p.exists():
            raise FileNotFoundError(f"export file {rel!r} is missing under {self.folder}")
        return p

    def views(self, row: dict) -> np.ndarray:
        image = np.asarray(Image.open(self.file(row["image"]["path"])).convert("RGB"))
        mask = np.asarray(Image.open(self.file(row["mask"]["path"])).convert("L")) >= 128
        return make_views(image, mask, self.image_size)

    def occ(self, mesh: dict) -> np.ndarray:
        rel = mesh["path"]
        if rel not in self._occ:
            m = read_mesh(self.file(rel))
            self._occ[rel] = pack_occ(voxelize(m, self.grid)[None])[0]
        return self._occ[rel]


def load_export(folder: str | Path, grid: int, image_size: int, kind: str = "samples",
                progress: bool = True) -> ArrayDataset:
    """Read an export as rows of views, occupancy and pose ('samples') or chosen/rejected ('pairs')."""
    folder = Path(folder)
    if not is_export(folder):
        raise FileNotFoundError(f"{folder} is not an engine export (needs manifest.json and samples.jsonl)")
    manifest = json.loads((folder / "manifest.json").read_text())
    version = manifest.get("format", {}).get("version", 1)
    if version not in FORMAT_VERSIONS:
        raise ValueError(f"{folder} is an export of format version {version}; this trainer reads versions "
                         f"{', '.join(map(str, FORMAT_VERSIONS))} (update the trainer)")
    r = _Reader(folder, grid, image_size)
    snap = f"export:{manifest.get('project', '?')}:it{manifest.get('iteration', '?')}:{kind}"
    if kind not in ("samples", "pairs"):
        raise ValueError(f"kind must be 'samples' or 'pairs', got {kind!r}")
    name, line = f"{kind}.jsonl", 0
    try:
        if kind == "samples":
            rows = list(enumerate(read_jsonl(folder / "samples.jsonl"), 1))
            if not rows:
                raise ValueError(f"{folder}/samples.jsonl has no samples")
            cols = {k: [] for k in ("views", "occ", "rotation", "translation", "scale", "layout_mask")}
            for line, row in tqdm(rows, desc="export samples", disable=not progress):
                pose = row["pose"]
                cols["views"].append(r.views(row))
                cols["occ"].append(r.occ(row["mesh"]))
                cols["rotation"].append(np.asarray(pose["rotation_matrix"], dtype=np.float32))
                cols["translation"].append(np.asarray(pose["translation"], dtype=np.float32))
                cols["scale"].append(np.float32(pose["scale"]))
                cols["layout_mask"].append(np.ones(3, dtype=np.float32))
        else:
            rows = [(n, p) for n, p in enumerate(read_jsonl(folder / "pairs.jsonl"), 1) if p.get("dpo_eligible", False)]
            if not rows:
                raise ValueError(f"{folder}/pairs.jsonl has no pair with dpo_eligible true")
            cols = {k: [] for k in ("views", "occ", "occ_rejected", "rotation", "translation", "scale", "layout_mask")}
            for line, row in tqdm(rows, desc="export pairs", disable=not progress):
                cols["views"].append(r.views(row))
                cols["occ"].append(r.occ(row["chosen"]["mesh"]))
                cols["occ_rejected"].append(r.occ(row["rejected"]["mesh"]))
                # Pairs carry no pose: the layout terms are masked out of the DPO loss.
                cols["rotation"].append(np.eye(3, dtype=np.float32))
                cols["translation"].append(np.array([0, 0, 3], dtype=np.float32))
                cols["scale"].append(np.float32(1))
                cols["layout_mask"].append(np.zeros(3, dtype=np.float32))
    except (KeyError, TypeError, IndexError) as e:
        raise ValueError(f"{folder / name} line {line}: malformed row (missing or wrong field {e})") from None
    # Stage 1's category of each row (what the category loss reads; None where the annotator gave none).
    categories = [row.get("category") or None for _, row in rows]
    return ArrayDataset({k: np.stack(v) for k, v in cols.items()}, grid, image_size, snap, categories)
