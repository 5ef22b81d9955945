
import numpy as np
import trimesh

from model_suite.base import Availability, CandidateMesh, GenerationContext, Generator
from model_suite.candidate_set import allocate, generate_set, generator_seed


class Boxes(Generator):
    """A tiny real generator: boxes whose proportions depend on the seed and the index."""

    kind = "lifting"

    def __init__(self, name, limit=99, fail=False, ok=True, queue="cpu"):
        self.name, self.limit, self.fail, self.ok, self.queue = name, limit, fail, ok, queue
        self.calls = []

    def availability(self):
        return Availability(self.ok, "" if self.ok else "no weights")

    def generate(self, image, mask, context, n, seed):
        self.calls.append((n, seed))
        if self.fail:
            raise RuntimeError("model exploded")
        out = []
        for i in range(min(n, self.limit)):
            m = trimesh.creation.box((1, 1 + i, 1 + seed % 7))
            out.append(CandidateMesh(m.vertices, m.faces, self.name, "1", "lifting", seed, extra={"i": i}))
        return out


def _run(suite, n=8):
    return generate_set(suite, np.zeros((4, 4, 3), np.uint8), np.ones((4, 4), bool), GenerationContext(), n, seed=3)


def test_allocate_is_round_robin():
    gens = [Boxes("a"), Boxes("b"), Boxes("c")]
    assert allocate(gens, 8) == {"a": 3, "b": 3, "c": 2}
    assert allocate([], 8) == {}


def test_unavailable_and_failing_generators_are_reported_and_the_others_fill_the_set():
    a, broken, missing, gpu = Boxes("a"), Boxes("broken", fail=True), Boxes("missing", ok=False), Boxes("gpu", queue="gpu")
    result = generate_set([a, broken, missing, gpu], np.zeros((4, 4, 3), np.uint8), np.ones((4, 4), bool),
                          GenerationContext(), 8, 3, queues=("cpu",))
    assert len(result.candidates) == 8 and {c.generator for c in result.candidates} == {"a"}
    assert "model exploded" in result.report["broken"]["error"]
    assert result.report["missing"] == {"ok": False, "reason": "no weights", "count": 0, "seconds": 0.0}
    assert gpu.calls == []


def test_a_short_generator_is_topped_up_by_the_others_without_repeats():
    short, full = Boxes("short", limit=1), Boxes("full")
    result = _run([short, full])
    assert len(result.candidates) == 8
    from_full = [c.extra["i"] for c in result.candidates if c.generator == "full"]
    assert sorted(from_full) == list(range(7))  # asked again for 7 with the same seed, kept the 3 new ones
    assert {s for _, s in full.calls} == {generator_seed(3, "full")}


def test_generator_seeds_are_stable_and_distinct():
    assert generator_seed(3, "a") == generator_seed(3, "a") != generator_seed(3, "b")


def test_the_real_suite_fills_a_set_of_eight_browser_ready_candidates(small_library, camera):
    from model_suite.meshio import load_mesh, to_glb
    from model_suite.procedural import make_shape
    from model_suite.raycast import render_mask, view_rotation
    from model_suite.registry import build_suite

    shape, _, _ = make_shape("table", seed=99, index=0)
    mask = render_mask(shape.vertices, shape.faces, {"R": view_rotation(0.5, 0.3), "t": [0, 0, 3.0], "s": 1.0}, camera)
    image = np.where(mask[..., None], 180, 40).astype(np.uint8).repeat(3, axis=2)
    ctx = GenerationContext(category="table", description="a wooden table", intrinsics=camera)
    result = generate_set(build_suite({"library_dir": str(small_library)}), image, mask, ctx, n=8, seed=0)
    assert len(result.candidates) == 8
    assert {c.generator for c in result.candidates} == {"text_retrieval", "silhouette_retrieval", "geometric_lifting"}
    assert not result.report["flow_model"]["ok"] and not result.report["external"]["ok"]
    for c in result.candidates:
        glb = to_glb(c.vertices, c.faces)
        assert len(glb) < 250_000 and len(load_mesh(glb)[1]) == len(c.faces) <= 10_000
        assert c.pose is not None and c.seconds > 0
