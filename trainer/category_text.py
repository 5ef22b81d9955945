"""Category names as sentence embeddings, for a model given the category by its name (ModelConfig.category_text).

A learned embedding per name (ModelConfig.category_condition alone) knows only the vocabulary it was pretrained
on: every other name is 'unknown'. Stage 1's labels are free text, and a project's categories grow. Embedded by
the offline all-MiniLM-L6-v2 (model_suite.embeddings), a new name lands near the names it resembles ('motorcycle'
beside 'bicycle' and 'car', 'cabinet' beside 'shelf'), and the model's projection of that embedding is its token.

Ids stay integers on every path (datasets, pairs, samplers): a vocabulary name is its index in cfg.categories,
K = len(cfg.categories) (or -1) is 'unknown', and a name outside the vocabulary is K + 1 + j, j its place in this
process's registry (`extra_index`). The registry is shared by every model in the process, so a policy and its
reference, or a teacher and its student (one vocabulary), read one id the same way; ids never leave the process
(a pair cache keeps names).
"""
from __future__ import annotations

import functools
import threading

import torch

TEXT_DIM = 384  # all-MiniLM-L6-v2

_lock = threading.Lock()
_extra: list[str] = []
_extra_index: dict[str, int] = {}


@functools.lru_cache(maxsize=64)
def name_embeddings(names: tuple[str, ...]) -> torch.Tensor:
    """(len(names), TEXT_DIM) unit-norm float32 embeddings of category names, read the way a caption is."""
    from model_suite.embeddings import embed     # a missing sentence model: SentenceModelMissing
    if not names:
        return torch.zeros(0, TEXT_DIM)
    return torch.from_numpy(embed([n.replace("_", " ") for n in names])).float()


def extra_index(name: str) -> int:
    """This process's index of a name outside a model's vocabulary (registered on first sight)."""
    with _lock:
        if name not in _extra_index:
            _extra_index[name] = len(_extra)
            _extra.append(name)
        return _extra_index[name]


def extra_embeddings(upto: int) -> torch.Tensor:
    """(upto, TEXT_DIM): the embeddings of the first `upto` registered names."""
    with _lock:
        names = tuple(_extra[:upto])
    if len(names) < upto:
        raise IndexError(f"category id beyond the {len(names)} names this process has registered")
    return name_embeddings(names)

