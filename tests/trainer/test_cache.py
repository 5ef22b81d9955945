import json

import numpy as np
import pytest

from trainer.config import DataConfig
from trainer.data.arrays import concat
from trainer.data.cache import load_cache, prepare
from trainer.data.loader import open_dataset
from trainer.data.pack import pack_occ, unpack_occ


def test_pack_roundtrip():
    occ = np.random.default_rng(0).random((3, 8, 8, 8)) > 0.5
    assert np.array_equal(unpack_occ(pack_occ(occ), 8), occ)


def test_prepared_cache_reads_back(tiny_cache):
    index = json.loads((tiny_cache / "index.json").read_text())
    assert index["n"] == 32 and len(index["shards"]) == 2 and index["kind"] == "render"
    ds = load_cache(tiny_cache)
    b = ds.batch([0, 5, 31])
    assert b["views"].shape == (3, 2, 4, 32, 32) and b["occ"].shape == (3, 16, 16, 16)
    assert b["layout_mask"][:, 1:].abs().sum() == 0          # isolated renders: rotation only
    assert 0.01 < b["occ"].mean() < 0.9


def test_prepare_is_deterministic(tmp_path):
    cfg = lambda out: DataConfig(out=str(out), kind="composite", n=4, primitives=3, grid=8, render_size=48,
                                 image_size=16, seed=3)
    a, b = prepare(cfg(tmp_path / "a"), progress=False), prepare(cfg(tmp_path / "b"), progress=False)
    assert a["snapshot"] == b["snapshot"]


def test_grid_mismatch_names_the_fix(tiny_cache):
    with pytest.raises(ValueError, match="re-run `prepare --grid 32"):
        open_dataset(str(tiny_cache), 32, 64)


def test_concat_and_subset(tiny_cache):
    ds = load_cache(tiny_cache)
    both = concat([ds, ds.subset(range(4))])
    assert len(both) == 36 and "+" in both.snapshot
