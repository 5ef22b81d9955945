"""Benchmark the model suite on the 2-core machine and print JSON: ``python -m model_suite.bench``.

Measures: procedural shapes per second, library import rate, a full N = 8 candidate set for one
real object (the Middlebury motorcycle: real image, real disparity point cloud) cold and warm,
per-generator time, GLB bytes per candidate and at 10k triangles, mask-IoU time and, with
``--best-of M``, the best-of-N amplification (rewards kept against the pool of M samples).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import time
from pathlib import Path

import cv2
import numpy as np
import open3d as o3d
import trimesh

from .base import GenerationContext
from .candidate_set import generate_set
from .depth import depth_to_points, motorcycle_example, write_point_cloud
from .library import import_directory
from .meshio import to_glb
from .procedural import generate_shapes
from .raycast import mask_iou
from .registry import build_suite, suite_status, warm_up

PYVISTA_EXAMPLES = Path(__import__("pyvista").__file__).parent / "examples"


def motorcycle_object() -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Return (image, mask, point cloud, intrinsics): the motorcycle is what stands nearer than 3.2 m and off the floor plane."""
    image, depth, K = motorcycle_example()
    points, _ = depth_to_points(depth, K)
    h, w = depth.shape
    v, u = np.mgrid[0:h, 0:w]
    grid = np.stack([(u - K["cx"]) * depth / K["fx"], (v - K["cy"]) * depth / K["fy"], depth], -1)
    valid = np.isfinite(depth)
    near = valid & (depth < 3.2)
    o3d.utility.random.seed(0)
    floor = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(grid[near & (v > 0.6 * h)].astype(np.float64)))
    (a, b, c, d), _ = floor.segment_plane(0.02, 3, 500)
    above = np.abs(np.nan_to_num(grid) @ np.array([a, b, c]) + d) > 0.04
    mask = cv2.morphologyEx((near & above).astype(np.uint8), cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8))
    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask)
    mask = labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return image, mask, points, K


def _untrained_checkpoint(path: Path, preset: str) -> Path:
    """Write an untrained trainer checkpoint of ``preset`` (seeded), for timing the sampler."""
    import torch
    from trainer.checkpoints import save_checkpoint
    from trainer.config import model_config
    from trainer.model import FlowModel

    torch.manual_seed(0)
    return save_checkpoint(path, FlowModel(model_config(preset)), None, {"stage": "untrained", "step": 0})


def main(argv=None) -> None:
    """Run every measurement once (warm sets ``--repeats`` times) and print one JSON object."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", default="var/bench/model_suite", help="scratch folder, emptied first")
    p.add_argument("--count", type=int, default=260, help="procedural shapes to generate and import")
    p.add_argument("--n", type=int, default=8, help="candidates per set")
    p.add_argument("--repeats", type=int, default=3, help="warm candidate sets to time")
    p.add_argument("--checkpoint", default=None, help="a trainer checkpoint to include the flow-model generator")
    p.add_argument("--best-of", type=int, default=None, help="M for best-of-N on the flow model")
    p.add_argument("--untrained-flow", default=None, metavar="PRESET",
                   help="time the flow-model generator on an untrained checkpoint of this trainer preset (e.g. cpu)")
    p.add_argument("--no-refine", action="store_true", help="skip render-and-compare pose refinement of retrieval candidates")
    p.add_argument("--flow-steps", type=int, default=None, help="sampler steps for the flow model (default: the checkpoint's)")
    args = p.parse_args(argv)
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    # Other jobs on a shared 2-core machine inflate every figure: record the load they ran under.
    out: dict = {"machine": {"cpus": os.cpu_count(), "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}}

    t = time.perf_counter()
    generate_shapes(work / "shapes", args.count, seed=0)
    s = time.perf_counter() - t
    out["procedural"] = {"shapes": args.count, "seconds": round(s, 2), "shapes_per_second": round(args.count / s, 1)}

    t = time.perf_counter()
    results = import_directory(work / "shapes", work / "library") + import_directory(PYVISTA_EXAMPLES, work / "library", recursive=False)
    s = time.perf_counter() - t
    out["library_import"] = {"files": len(results), "accepted": sum(r.accepted for r in results), "seconds": round(s, 2),
                             "files_per_second": round(len(results) / s, 1),
                             "rejected": {r.file.rsplit("/", 1)[-1]: r.reason for r in results if not r.accepted}}

    config = {"library_dir": str(work / "library"), "flow_steps": args.flow_steps, "flow_best_of": args.best_of,
              "refine_pose": not args.no_refine}
    if args.untrained_flow:
        args.checkpoint = str(_untrained_checkpoint(work / "untrained", args.untrained_flow))
        out["flow_note"] = f"untrained '{args.untrained_flow}' checkpoint: times sampling only, its shapes are noise"
    if args.checkpoint:
        config["flow_checkpoints"] = [args.checkpoint]
    suite = build_suite(config)
    out["suite"] = suite_status(suite)

    image, mask, points, K = motorcycle_object()
    t = time.perf_counter()
    meta = write_point_cloud(work / "pointcloud" / "motorcycle", points, None, K)
    out["point_cloud"] = {"points": meta["count"], "seconds": round(time.perf_counter() - t, 3),
                          "ply_bytes": (work / "pointcloud" / meta["ply"]).stat().st_size,
                          "bin_bytes": (work / "pointcloud" / meta["xyz"]).stat().st_size}
    ctx = GenerationContext(category="vehicle", description="a red motorcycle", point_cloud=points, intrinsics=K)

    def per_generator(res):
        return {k: {"count": v["count"], "seconds": round(v["seconds"], 3), **({"error": v["error"]} if "error" in v else {})}
                for k, v in res.report.items() if v["ok"]}

    out["warm_up_seconds"] = warm_up(suite)  # what a worker pays once at start: model load, caption embeddings, silhouettes
    first = generate_set(suite, image, mask, ctx, args.n, seed=0)
    out["candidate_set_first"] = {"n": len(first.candidates), "seconds": round(first.seconds, 2), "per_generator": per_generator(first)}
    warm = [generate_set(suite, image, mask, ctx, args.n, seed=k) for k in range(1, args.repeats + 1)]
    out["candidate_set_warm"] = {"n": len(warm[-1].candidates), "median_seconds": round(statistics.median(w.seconds for w in warm), 2),
                                 "max_seconds": round(max(w.seconds for w in warm), 2), "per_generator": per_generator(warm[-1]),
                                 "goal_seconds": 10}

    kept = [c.extra["best_of"] for c in warm[-1].candidates if "best_of" in c.extra]
    if kept:  # best-of-N amplification: what keeping the top k of M samples gains over the pool
        pool_mean = kept[0]["pool_mean"]
        out["best_of_n"] = {"M": kept[0]["M"], "k": kept[0]["k"], "ranked_by": kept[0]["ranked_by"],
                            "kept_rewards": [round(b["reward"], 4) for b in kept], "pool_size": kept[0]["pool_size"],
                            "pool_mean": round(pool_mean, 4), "pool_max": round(kept[0]["pool_max"], 4),
                            "gain_over_pool_mean": round(statistics.mean(b["reward"] for b in kept) - pool_mean, 4)}

    rows = []
    for c in warm[-1].candidates:
        t = time.perf_counter()
        data = to_glb(c.vertices, c.faces)
        rows.append({"generator": c.generator, "triangles": int(len(c.faces)), "glb_bytes": len(data),
                     "glb_seconds": round(time.perf_counter() - t, 3), "mask_iou": round(mask_iou((c.vertices, c.faces), c.pose, K, mask), 3) if c.pose else None})
    sphere = trimesh.creation.icosphere(subdivisions=6)
    ten_k = to_glb(sphere.vertices, sphere.faces, budget=10_000)
    out["glb"] = {"per_candidate": rows, "at_10k_triangles_bytes": len(ten_k), "goal_bytes": 250_000, "aim_bytes": 120_000,
                  "encoding": "KHR_mesh_quantization: int16 positions, int8 normals, uint16 indices"}
    c = warm[-1].candidates[0]
    t = time.perf_counter()
    mask_iou((c.vertices, c.faces), c.pose, K, mask)
    out["mask_iou_seconds_full_resolution"] = round(time.perf_counter() - t, 4)
    out["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
