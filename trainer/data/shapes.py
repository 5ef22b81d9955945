"""The shape library: mesh files (any folder of OBJ/PLY/GLB/STL) plus seeded primitive assemblies.

Every mesh is normalised to the unit cube centred at the origin (largest bbox side = 1), the
frame of the engine exports. Assemblies are boolean unions (manifold3d through trimesh), so
they are watertight. Point `--shapes` at the model suite's procedural folder for the real
vocabulary; the assemblies only make sure a fresh checkout has more than four shapes.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import trimesh

MESH_EXTS = (".obj", ".ply", ".glb", ".gltf", ".stl", ".off")


def normalize(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """Centre the bbox at the origin and scale its largest side to 1."""
    mesh = mesh.copy()
    lo, hi = mesh.bounds
    mesh.apply_translation(-(lo + hi) / 2)
    mesh.apply_scale(1.0 / max(float((hi - lo).max()), 1e-9))
    return mesh


def load_mesh(path: str | Path) -> trimesh.Trimesh:
    """Load any mesh file trimesh reads as one normalised triangle mesh."""
    mesh = trimesh.load(str(path), force="mesh", process=True)
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise ValueError(f"{path}: no triangles found")
    return normalize(mesh)


def bundled_mesh_paths() -> list[Path]:
    """The real meshes shipped with pyvista (airplane, ant, nut, sphere, ...)."""
    try:
        import pyvista.examples as ex
    except ImportError:
        return []
    return sorted(Path(ex.__file__).parent.glob("*.ply"))


def mesh_paths(sources: list[str]) -> list[Path]:
    """Expand folders and files into a sorted list of mesh paths."""
    out: list[Path] = []
    for s in sources:
        p = Path(s)
        if p.is_dir():
            out += sorted(q for q in p.rglob("*") if q.suffix.lower() in MESH_EXTS)
        elif p.is_file():
            out.append(p)
        else:
            raise FileNotFoundError(f"shape source {s!r} does not exist")
    return out


def _box(rng, size, at):
    m = trimesh.creation.box(extents=size)
    m.apply_translation(at)
    return m


def _cyl(rng, r, h, at, sections=24):
    m = trimesh.creation.cylinder(radius=r, height=h, sections=sections)
    m.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0]))  # axis along y
    m.apply_translation(at)
    return m


ASSEMBLY_KINDS = ("table", "chair", "stool", "mug", "lamp", "bottle", "shelf")


# The file stem the model suite's procedural generator gives shape i of seed s: `{category}_{s}_{i:05d}`.
PROCEDURAL_NAME = re.compile(r"^(?P<category>[a-z]+)_\d+_\d{5}$")


def shape_category(name: str) -> str:
    """The category of a library shape by its name: an assembly's kind, a procedural shape's category, else the
    mesh file's stem."""
    if name.startswith("assembly-") and name[len("assembly-"):].isdigit():
        return ASSEMBLY_KINDS[int(name[len("assembly-"):]) % len(ASSEMBLY_KINDS)]
    match = PROCEDURAL_NAME.match(name)
    return match["category"] if match else name


def primitive_assembly(seed: int) -> trimesh.Trimesh:
    """A seeded table, chair, stool, mug, lamp, bottle or shelf (y up), unioned and normalised."""
    rng = np.random.default_rng(seed)
    kind = ASSEMBLY_KINDS[seed % len(ASSEMBLY_KINDS)]
    u = lambda a, b: float(rng.uniform(a, b))
    parts = []
    if kind in ("table", "chair", "stool"):
        w, d, h, leg = u(0.6, 1.2), u(0.5, 1.0), u(0.5, 0.9), u(0.04, 0.1)
        if kind == "stool":
            parts.append(_cyl(rng, w / 2, 0.06, [0, h, 0]))
        else:
            parts.append(_box(rng, [w, 0.06, d], [0, h, 0]))
        for sx in (-1, 1):
            for sz in (-1, 1):
                parts.append(_box(rng, [leg, h, leg], [sx * (w / 2 - leg), h / 2, sz * (d / 2 - leg)]))
        if kind == "chair":
            bh = u(0.4, 0.8)
            parts.append(_box(rng, [w, bh, 0.06], [0, h + bh / 2, -d / 2 + 0.03]))
    elif kind == "mug":
        r, h = u(0.2, 0.4), u(0.4, 0.9)
        parts.append(_cyl(rng, r, h, [0, h / 2, 0]))
        handle = trimesh.creation.torus(major_radius=h / 4, minor_radius=u(0.03, 0.06))
        handle.apply_translation([r, h / 2, 0])
        parts.append(handle)
    elif kind == "lamp":
        h = u(0.6, 1.2)
        parts += [_cyl(rng, u(0.15, 0.3), 0.05, [0, 0.025, 0]), _cyl(rng, 0.03, h, [0, h / 2, 0])]
        shade = trimesh.creation.cone(radius=u(0.2, 0.4), height=u(0.2, 0.4))
        shade.apply_transform(trimesh.transformations.rotation_matrix(-np.pi / 2, [1, 0, 0]))
        shade.apply_translation([0, h - 0.05, 0])
        parts.append(shade)
    elif kind == "bottle":
        r, h = u(0.12, 0.25), u(0.5, 1.0)
        parts += [_cyl(rng, r, h, [0, h / 2, 0]), _cyl(rng, r * u(0.3, 0.5), h * 0.35, [0, h * 1.15, 0])]
    else:  # shelf
        w, h, d, n = u(0.6, 1.0), u(0.8, 1.4), u(0.25, 0.5), int(rng.integers(2, 5))
        parts += [_box(rng, [0.05, h, d], [sx * w / 2, h / 2, 0]) for sx in (-1, 1)]
        parts += [_box(rng, [w, 0.04, d], [0, k * h / n, 0]) for k in range(n + 1)]
    mesh = trimesh.boolean.union(parts, engine="manifold") if len(parts) > 1 else parts[0]
    return normalize(mesh)


def shape_library(sources: list[str], primitives: int, seed: int = 0) -> list[tuple[str, trimesh.Trimesh]]:
    """Return [(name, mesh)]: the given sources (or the bundled meshes when empty) plus assemblies."""
    paths = mesh_paths(sources) if sources else bundled_mesh_paths()
    shapes = [(p.stem, load_mesh(p)) for p in paths]
    shapes += [(f"assembly-{seed + i}", primitive_assembly(seed + i)) for i in range(primitives)]
    if not shapes:
        raise ValueError("the shape library is empty: pass --shapes FOLDER or --primitives N > 0")
    return shapes
