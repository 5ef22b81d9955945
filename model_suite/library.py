"""The shape library: a folder of normalized meshes plus ``index.jsonl`` with a caption per shape.

Layout::

    library_dir/
      index.jsonl        one accepted shape per line: id, file, caption, category, source, counts
      rejected.jsonl     what the filter refused, with the reason code and detail (an audit trail)
      meshes/<id>.ply    y-up, unit cube centred at the origin, repaired, at most ``budget`` triangles
      cache/             derived data (caption embeddings, silhouettes), rebuilt when the index changes
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import trimesh

from .meshio import load_mesh
from .meshproc import MeshError, normalize, repair, simplify
from .shape_filter import check

MESH_SUFFIXES = {".obj", ".ply", ".glb", ".stl", ".off"}
MESH_CACHE = 256  # meshes kept in memory per Library: a worker's footprint stays bounded as the library grows
LIBRARY_BUDGET = 20_000  # stored triangles per shape: retrieval renders these, candidates decimate further


@dataclass
class ImportResult:
    """What happened to one source file: accepted with an id, or rejected with a stable reason code."""

    file: str
    accepted: bool
    reason: str = ""
    detail: str = ""
    id: str | None = None
    caption: str = ""


@dataclass
class ShapeEntry:
    """One row of ``index.jsonl``."""

    id: str
    file: str
    caption: str
    category: str
    source: str
    vertices: int
    faces: int
    watertight: bool
    params: dict = field(default_factory=dict)


def caption_from_name(path: Path, category: str = "") -> str:
    """Make a caption from a file name such as ``office_chair-02.ply`` -> ``an office chair``."""
    words = [w for w in re.split(r"[^a-zA-Z]+", path.stem.lower()) if w and not w.isdigit()]
    text = " ".join(words) or category or "object"
    if category and category not in text:
        text = f"{text} {category}"
    return ("an " if text[0] in "aeiou" else "a ") + text


def _sidecar(src: Path) -> dict[str, dict]:
    """Read ``captions.jsonl`` (as written by the procedural generator) mapping file -> caption/category/params."""
    path = src / "captions.jsonl"
    if not path.exists():
        return {}
    return {r["file"]: r for r in (json.loads(line) for line in path.read_text().splitlines() if line.strip())}


def import_file(path: Path, library_dir: Path, caption: str, category: str, params: dict | None = None,
                budget: int = LIBRARY_BUDGET) -> tuple[ImportResult, ShapeEntry | None]:
    """Load, repair, normalize, filter and store one mesh file."""
    data = path.read_bytes()
    shape_id = hashlib.sha256(data).hexdigest()[:16]  # content id: importing the same file twice is a no-op
    try:
        v, f = load_mesh(data)
        mesh = repair(v, f)
        v, _, _ = normalize(mesh.vertices)
        mesh = trimesh.Trimesh(v, mesh.faces, process=False)
    except MeshError as exc:
        return ImportResult(str(path), False, exc.code, str(exc)), None
    verdict = check(mesh)
    if not verdict.ok:
        return ImportResult(str(path), False, verdict.reason, verdict.detail, caption=caption), None
    v, f = simplify(mesh.vertices, mesh.faces, budget)
    stored = trimesh.Trimesh(v, f, process=False)
    rel = f"meshes/{shape_id}.ply"
    stored.export(library_dir / rel)
    entry = ShapeEntry(shape_id, rel, caption, category, str(path), len(v), len(f), bool(mesh.is_watertight), params or {})
    return ImportResult(str(path), True, id=shape_id, caption=caption), entry


def import_directory(src: str | Path, library_dir: str | Path, category: str = "", captions: dict[str, str] | None = None,
                     budget: int = LIBRARY_BUDGET, recursive: bool = True) -> list[ImportResult]:
    """Import every OBJ/PLY/GLB/STL/OFF under ``src`` into ``library_dir``; return one result per file.

    Captions come, in order of precedence, from ``captions`` (file name -> caption), a
    ``captions.jsonl`` beside the files, or the file name plus ``category``. Shapes already
    in the library (same content) are reported as accepted with reason ``duplicate``.
    """
    src, library_dir = Path(src), Path(library_dir)
    (library_dir / "meshes").mkdir(parents=True, exist_ok=True)
    captions = captions or {}
    sidecar = _sidecar(src)
    existing = {e.id for e in load_index(library_dir)}
    files = sorted(p for p in (src.rglob("*") if recursive else src.iterdir()) if p.suffix.lower() in MESH_SUFFIXES and p.is_file())
    results, new_entries, rejected = [], [], []
    for path in files:
        meta = sidecar.get(path.name, {})
        cat = category or meta.get("category", "") or (path.parent.name if path.parent != src else "")
        caption = captions.get(path.name) or meta.get("caption") or caption_from_name(path, cat)
        shape_id = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        if shape_id in existing:
            results.append(ImportResult(str(path), True, "duplicate", "already in the library", shape_id, caption))
            continue
        result, entry = import_file(path, library_dir, caption, cat, meta.get("params"), budget)
        results.append(result)
        if entry:
            new_entries.append(entry)
            existing.add(entry.id)
        else:
            rejected.append(result)
    with open(library_dir / "index.jsonl", "a") as fh:
        fh.writelines(json.dumps(asdict(e)) + "\n" for e in new_entries)
    with open(library_dir / "rejected.jsonl", "a") as fh:
        fh.writelines(json.dumps({**asdict(r), "at": time.time()}) + "\n" for r in rejected)
    return results


def load_index(library_dir: str | Path) -> list[ShapeEntry]:
    """Return the library's entries in import order (empty if there is no library yet)."""
    path = Path(library_dir) / "index.jsonl"
    if not path.exists():
        return []
    return [ShapeEntry(**json.loads(line)) for line in path.read_text().splitlines() if line.strip()]


def index_fingerprint(library_dir: str | Path) -> str:
    """Return a short hash of the index, used to invalidate caches when shapes are added."""
    path = Path(library_dir) / "index.jsonl"
    return hashlib.sha256(path.read_bytes() if path.exists() else b"").hexdigest()[:16]


class Library:
    """Read access to a library folder, with meshes loaded lazily and kept in memory."""

    def __init__(self, library_dir: str | Path):
        self.dir = Path(library_dir)
        self._stamp = None
        self.entries: list[ShapeEntry] = []
        self._meshes: OrderedDict[str, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self.refresh()

    def refresh(self) -> bool:
        """Reload the index if it changed on disk (a stat per call); return whether it did.

        Long-lived workers call this before each object, so shapes imported meanwhile are found.
        """
        try:
            st = (self.dir / "index.jsonl").stat()
            stamp = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        self.entries = load_index(self.dir)
        return True

    def __len__(self) -> int:
        return len(self.entries)

    def mesh(self, shape_id: str) -> tuple[np.ndarray, np.ndarray]:
        """Return (V, F) of a shape by id (the most recently used ``MESH_CACHE`` stay in memory)."""
        if shape_id in self._meshes:
            self._meshes.move_to_end(shape_id)
            return self._meshes[shape_id]
        entry = next((e for e in self.entries if e.id == shape_id), None)
        if entry is None:
            raise KeyError(f"no shape {shape_id!r} in the library at {self.dir}")
        self._meshes[shape_id] = load_mesh(self.dir / entry.file)
        if len(self._meshes) > MESH_CACHE:
            self._meshes.popitem(last=False)
        return self._meshes[shape_id]

    def cache_dir(self) -> Path:
        """Return the folder for derived data, created on demand."""
        path = self.dir / "cache"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def fingerprint(self) -> str:
        """Return the index fingerprint (changes whenever a shape is added)."""
        return index_fingerprint(self.dir)
