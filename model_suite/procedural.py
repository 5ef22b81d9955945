"""Seeded procedural shapes: parametric assemblies of parts for everyday categories, watertight and captioned.

Every shape is built z-up from primitives, unioned with manifold3d, turned y-up (the glTF/three.js
up axis, and the object frame of the library) and normalized to the unit cube. Shape ``i`` of
seed ``s`` depends only on (s, i), so a library can be regrown or extended reproducibly.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import trimesh

from .shapes import furniture, tableware, vehicles
from .shapes.parts import Z_UP_TO_Y_UP, union

# Category names are the engine's taxonomy slugs. New categories go at the end: a shape's
# random stream depends on its category's position, so reordering would change existing shapes.
BUILDERS = {
    "chair": furniture.chair, "stool": furniture.stool, "table": furniture.table, "shelf": furniture.shelf,
    "bench": furniture.bench, "mug": tableware.mug, "bottle": tableware.bottle, "bowl": tableware.bowl,
    "vase": tableware.vase, "box": tableware.box_shape, "lamp": furniture.lamp, "car": vehicles.car,
    "aircraft": vehicles.aircraft, "sofa": furniture.sofa, "cabinet": furniture.cabinet, "bed": furniture.bed,
    "plate": tableware.plate, "motorcycle": vehicles.motorcycle, "bicycle": vehicles.bicycle, "boat": vehicles.boat,
}
CATEGORIES = tuple(BUILDERS)


def _assemble(parts: list[trimesh.Trimesh], attempt: int) -> trimesh.Trimesh:
    """Union the parts, turn y-up, normalize, and return the mesh as it will be stored (float32 vertices).

    Parts whose faces are exactly coplanar can come out of the boolean with distinct vertices at
    one position, which storage then fuses into non-manifold edges; on a retry (``attempt`` > 0)
    each part is grown by a tiny, different amount so no faces coincide.
    """
    if attempt:
        grow = [1 + 1e-3 * attempt * (1 + k % 7) for k in range(len(parts))]
        parts = [p.copy().apply_transform(trimesh.transformations.scale_matrix(g, p.centroid)) for p, g in zip(parts, grow)]
    mesh = union(parts) if len(parts) > 1 else parts[0].copy()
    mesh.apply_transform(Z_UP_TO_Y_UP)
    lo, hi = mesh.bounds
    mesh.apply_translation(-(lo + hi) / 2)
    mesh.apply_scale(1.0 / float((hi - lo).max()))
    # Booleans also leave slivers whose corners sit ~1e-9 apart: fuse them on purpose and drop what collapses.
    mesh.merge_vertices(digits_vertex=6)
    mesh.update_faces(mesh.nondegenerate_faces())
    mesh.remove_unreferenced_vertices()
    return trimesh.Trimesh(mesh.vertices.astype(np.float32), mesh.faces, process=True)


def make_shape(category: str, seed: int, index: int = 0) -> tuple[trimesh.Trimesh, dict, str]:
    """Return (watertight y-up mesh in the unit cube, parameters, caption) for one seeded shape."""
    if category not in BUILDERS:
        raise ValueError(f"unknown category {category!r}; choose one of {', '.join(CATEGORIES)}")
    rng = np.random.default_rng([seed, index, CATEGORIES.index(category)])
    parts, params, caption = BUILDERS[category](rng)
    for attempt in range(3):
        mesh = _assemble(parts, attempt)
        if mesh.is_watertight:
            break
    params = {k: (round(float(x), 4) if isinstance(x, (float, np.floating)) else x) for k, x in params.items()}
    return mesh, params, caption


def generate_shapes(out_dir: str | Path, count: int, seed: int = 0, categories=CATEGORIES) -> list[dict]:
    """Write ``count`` shapes (cycling the categories) as PLY files plus ``captions.jsonl``; return the records.

    A record is ``{"file", "category", "caption", "params", "watertight"}``; ``library.import_directory``
    picks the captions and categories up from ``captions.jsonl``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    records = []
    for i in range(count):
        category = categories[i % len(categories)]
        mesh, params, caption = make_shape(category, seed, i)
        name = f"{category}_{seed}_{i:05d}.ply"
        mesh.export(out / name)
        records.append(dict(file=name, category=category, caption=caption, params=params, watertight=bool(mesh.is_watertight)))
    with open(out / "captions.jsonl", "w") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in records)
    return records


def main(argv=None) -> None:
    """Command line: ``python -m model_suite.procedural --out DIR --count N --seed S``."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="directory to write PLY files and captions.jsonl into")
    p.add_argument("--count", type=int, default=130, help="number of shapes (the categories are cycled)")
    p.add_argument("--seed", type=int, default=0, help="base seed; shape i depends only on (seed, i)")
    p.add_argument("--categories", default=",".join(CATEGORIES), help="comma-separated subset of categories")
    args = p.parse_args(argv)
    t = time.perf_counter()
    records = generate_shapes(args.out, args.count, args.seed, tuple(args.categories.split(",")))
    seconds = time.perf_counter() - t
    print(json.dumps({"out": str(args.out), "count": len(records), "watertight": sum(r["watertight"] for r in records),
                      "seconds": round(seconds, 2), "shapes_per_second": round(len(records) / seconds, 1)}))


if __name__ == "__main__":
    main()
