import numpy as np

from model_suite.base import GenerationContext
from model_suite.library import Library
from model_suite.raycast import mask_iou, render_mask, view_rotation
from model_suite.silhouette_retrieval import SilhouetteRetrievalGenerator


def test_a_library_shape_seen_from_a_library_view_is_found_with_its_rotation(small_library, camera):
    gen = SilhouetteRetrievalGenerator(small_library)
    lib = Library(small_library)
    entry = next(e for e in lib.entries if e.category == "chair")
    v, f = lib.mesh(entry.id)
    truth = {"R": view_rotation(np.pi / 4, np.radians(10), roll=np.radians(11.25)), "t": [0, 0, 3.0], "s": 1.0}
    mask = render_mask(v, f, truth, camera)
    out = gen.generate(None, mask, GenerationContext(intrinsics=camera), 3, 0)
    assert entry.id in [c.extra["shape_id"] for c in out] and "chair" in out[0].extra["caption"]
    found = next(c for c in out if c.extra["shape_id"] == entry.id)
    assert abs(found.extra["roll_degrees"] - 11.25) <= 12
    assert mask_iou((found.vertices, found.faces), found.pose, camera, mask) > 0.6


def test_the_descriptor_bank_is_cached_per_library_version(small_library):
    gen = SilhouetteRetrievalGenerator(small_library)
    bank = gen.bank()
    assert bank.shape[:2] == (len(gen.library), 16)
    cached = list((small_library / "cache").glob("silhouettes-*.npy"))
    assert len(cached) == 1
    assert np.array_equal(SilhouetteRetrievalGenerator(small_library).bank(), bank)
