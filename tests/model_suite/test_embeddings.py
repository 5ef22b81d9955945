import numpy as np

from model_suite.embeddings import cached_embeddings, embed, model_path


def test_the_offline_model_ships_with_the_package():
    assert model_path() is not None


def test_similar_sentences_are_nearer():
    v = embed(["a wooden chair", "a seat with four legs and a backrest", "a jet aircraft"])
    assert np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2]


def test_cache_is_reused_for_the_same_texts_and_rebuilt_for_new_ones(tmp_path, monkeypatch):
    cache = tmp_path / "c.npz"
    first = cached_embeddings(["a mug", "a bowl"], cache)
    calls = []
    monkeypatch.setattr("model_suite.embeddings.embed", lambda texts, path=None: calls.append(texts) or np.zeros((len(texts), 384)))
    assert np.array_equal(cached_embeddings(["a mug", "a bowl"], cache), first) and not calls
    cached_embeddings(["a mug", "a bowl", "a vase"], cache)
    assert calls == [["a mug", "a bowl", "a vase"]]
