"""The flow-model generator: the trainer's checkpoints sampled with different seeds, with best-of-N.

Occupancy (G^3, object frame, unit cube, index order x, y, z) becomes a mesh by marching cubes,
Taubin-smoothed; the pose is the decoded layout token (p_cam = s R p_obj + t).

Best-of-N (as in the published data engine): sample M seeds, rank them, keep the top k = n.
Ranking is the fit to the shape library's shapes of the object's Stage 1 category
(``model_suite.category_fit``) when the library holds any; otherwise the trainer's DPO implicit
reward (``trainer.rewards.implicit_reward``) when the checkpoint is a DPO one (its manifest names a
reference ``ref`` and ``beta``); otherwise the silhouette agreement (mask IoU of the posed mesh,
Open3D raycasting). Measured against a hidden truth (``manage.py bench_best_of``, model_suite/README.md),
only the category fit keeps shapes nearer it than seed order; the other two do not.
Each kept candidate records M, k, the ranking, its reward, and the pool's size, mean and best reward.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

import numpy as np
import trimesh
from skimage.measure import marching_cubes

from .base import Availability, CandidateMesh, Generator
from .candidates import make_candidate
from .category_fit import category_fit, category_references
from .posing import virtual_intrinsics
from .raycast import mask_iou


def occupancy_to_mesh(occupancy: np.ndarray, level: float = 0.5, smooth: int = 10) -> trimesh.Trimesh | None:
    """Return the smoothed marching-cubes surface of a (G, G, G) occupancy in the unit cube, or None if empty."""
    occ = np.asarray(occupancy, np.float32)
    if occ.max() < level or occ.min() >= level:
        return None
    g = occ.shape[0]
    v, f, _, _ = marching_cubes(np.pad(occ, 1), level)  # the empty border closes the surface
    # skimage winds these faces inwards for an inside-high field: flip them so normals point out
    mesh = trimesh.Trimesh((v - 1 + 0.5) / g - 0.5, f[:, ::-1], process=True)
    parts = mesh.split(only_watertight=False)
    if len(parts) > 1:
        # Floating specks are sampling noise, not shape: keep parts with at least 2 % of the largest's faces.
        biggest = max(len(p.faces) for p in parts)
        mesh = trimesh.util.concatenate([p for p in parts if len(p.faces) >= 0.02 * biggest])
    if smooth:
        trimesh.smoothing.filter_taubin(mesh, iterations=smooth)  # removes voxel terraces, keeps volume
    return mesh


@functools.lru_cache(maxsize=4)
def _load(path: str, device: str):
    from trainer.checkpoints import load_checkpoint

    return load_checkpoint(path, device=device)


@functools.lru_cache(maxsize=4)
def _library(library_dir: str):
    from .library import Library

    return Library(library_dir)


class FlowModelGenerator(Generator):
    """Sample the geometry flow model of one checkpoint; ``best_of`` = M > n turns on best-of-N."""

    name = "flow_model"
    version = "1"
    kind = "model"

    def __init__(self, checkpoint: str | Path | None = None, steps: int | None = None, mode: str = "flow",
                 best_of: int | None = None, device: str = "cpu", name: str | None = None, queue: str | None = None,
                 library_dir: str | Path | None = None):
        self.checkpoint = str(checkpoint) if checkpoint else None
        self.library_dir = str(library_dir) if library_dir else None  # its shapes of the category rank best-of-N
        self.steps, self.mode, self.best_of, self.device = steps, mode, best_of, device
        self.queue = queue or ("cpu" if device == "cpu" else "gpu")
        if name:
            self.name = name  # several deployed checkpoints can sit in one suite under different names

    def availability(self) -> Availability:
        if not self.checkpoint:
            return Availability(False, "no flow-model checkpoint configured: set 'flow_checkpoints' in the suite config "
                                       "to a promoted checkpoint folder")
        try:
            from trainer.checkpoints import read_manifest, resolve
        except ImportError as exc:
            return Availability(False, f"the trainer package cannot be imported: {exc}")
        try:
            read_manifest(resolve(self.checkpoint))
        except (FileNotFoundError, ValueError) as exc:
            return Availability(False, str(exc))
        return Availability(True)

    def warm_up(self) -> None:
        """Load the checkpoint into memory."""
        if self.availability().ok:
            self.model()

    def model(self):
        """Return (model, manifest), loaded once per process."""
        return _load(self.checkpoint, self.device)

    def generate(self, image, mask, context, n, seed) -> list[CandidateMesh]:
        """Return up to ``n`` sampled shapes with poses (fewer if a sample decodes to an empty grid)."""
        from trainer.sampling import sample

        started = time.perf_counter()
        model, manifest = self.model()
        m = max(n, context.best_of or self.best_of or n)  # a set's own amplification (the tail) wins
        # A checkpoint that conditions on the category is given Stage 1's (any other ignores it).
        results = sample(model, np.asarray(image), np.asarray(mask, bool), m, seed, steps=self.steps, mode=self.mode,
                         category=context.category)
        sampled = time.perf_counter() - started
        threshold = getattr(getattr(model, "sample_config", None), "threshold", 0.5)
        meshes = []
        for i, r in enumerate(results):
            mesh = occupancy_to_mesh(r.occupancy, threshold)
            if mesh is not None:
                meshes.append((i, r, mesh))
        ranked_by, rewards = self.rank(model, manifest, meshes, image, mask, context, seed) if m > n else ("seed_order", [None] * len(meshes))
        order = np.argsort([-(x if x is not None else 0.0) for x in rewards], kind="stable")[:n]
        # The whole pool's rewards, so the gain of keeping the top k (the amplification) can be measured.
        pool = [x for x in rewards if x is not None]
        pool_stats = {"pool_size": len(pool), "pool_mean": float(np.mean(pool)) if pool else None,
                      "pool_max": float(np.max(pool)) if pool else None}
        out = []
        for rank, j in enumerate(order):
            i, r, mesh = meshes[j]
            pose = {"R": np.asarray(r.rotation, float).tolist(), "t": np.asarray(r.translation, float).tolist(),
                    "s": float(r.scale), "source": "layout_token"}
            extra = {"sample_index": i, "steps": self.steps, "mode": self.mode,  # trainer.sample(..., seed)[i] reproduces it
                     "checkpoint_hash": manifest.get("hash"), "stage": manifest.get("stage"), "step": manifest.get("step")}
            if model.cfg.category_condition:  # what the sampler was told (unknown: outside a learned vocabulary)
                extra["category_condition"] = model.category_name(context.category)
            if m > n:
                extra["best_of"] = {"M": m, "k": n, "ranked_by": ranked_by, "reward": rewards[j], "rank": rank, **pool_stats}
            c = make_candidate(self, mesh.vertices, mesh.faces, seed, time.perf_counter(), pose, self.checkpoint, **extra)
            c.seconds = sampled / max(len(order), 1) + c.seconds  # sampling is batched: share its time
            out.append(c)
        return out

    def rank(self, model, manifest, meshes, image, mask, context, seed) -> tuple[str, list[float]]:
        """Return (method, reward per sample): the category fit when the library holds the category, else the DPO
        implicit reward when the checkpoint is a DPO one, else silhouette IoU (the order measured in
        model_suite/README.md: only the category fit keeps shapes nearer the truth than seed order)."""
        try:
            references = self._references(context.category)
            if references and meshes:
                return "category_fit", [category_fit(mesh.vertices, mesh.faces, references) for _, _, mesh in meshes]
        except Exception as exc:  # an unreadable library shape must not lose the candidates either
            return f"mask_iou (category fit failed: {type(exc).__name__}: {exc})", self._silhouette(meshes, mask, context)
        if "ref" in manifest and meshes:
            try:
                from trainer.rewards import implicit_reward, reward_beta, reward_settings

                reference, _ = _load(str(manifest["ref"]), self.device)
                rewards = implicit_reward(model, reference, np.asarray(image), np.asarray(mask, bool),
                                          [r for _, r, _ in meshes], reward_beta(manifest), seed=seed,
                                          category=context.category, **reward_settings(manifest))
                return "implicit_reward", [float(x) for x in rewards]
            except Exception as exc:  # a reward that cannot be computed must not lose the candidates
                return f"mask_iou (implicit reward failed: {type(exc).__name__}: {exc})", self._silhouette(meshes, mask, context)
        return "mask_iou", self._silhouette(meshes, mask, context)

    def _references(self, category):
        """Surface points of the library's shapes of `category` (none without a library, a category or such shapes)."""
        if not (self.library_dir and category):
            return ()
        return category_references(_library(self.library_dir), category)  # re-reads an index that changed

    def _silhouette(self, meshes, mask, context) -> list[float]:
        intrinsics = context.intrinsics or virtual_intrinsics(*np.asarray(mask).shape)
        out = []
        for _, r, mesh in meshes:
            pose = {"R": r.rotation, "t": r.translation, "s": r.scale}
            out.append(mask_iou((mesh.vertices, mesh.faces), pose, intrinsics, np.asarray(mask, bool)))
        return out

