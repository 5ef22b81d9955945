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


def _small(out, **kw) -> DataConfig:
    base = dict(out=str(out), kind="composite", n=10, primitives=3, grid=8, render_size=48, image_size=16,
                seed=5, shard_size=4)
    return DataConfig(**{**base, **kw})


def test_cache_is_memory_mapped_shard_folders(tiny_cache):
    from trainer.data.arrays import ShardedArray
    ds = load_cache(tiny_cache)
    assert isinstance(ds.arrays["views"], ShardedArray) and len(ds.arrays["views"].parts) == 2
    assert all(isinstance(p, np.memmap) for p in ds.arrays["views"].parts)
    assert sorted(p.name for p in (tiny_cache / "shard-00000").iterdir()) == sorted(
        f"{k}.npy" for k in ("views", "occ", "rotation", "translation", "scale", "layout_mask", "visible", "shape_id"))


def test_sharded_array_indexes_like_one_array():
    from trainer.data.arrays import ShardedArray
    whole = np.arange(30).reshape(10, 3)
    a = ShardedArray([whole[:4], whole[4:5], whole[5:]])
    assert len(a) == 10 and a.shape == (10, 3)
    for index in (3, -1, slice(2, 9, 3), [9, 0, 4, 4], np.array([[1, 5], [6, 2]])):
        assert np.array_equal(a[index], whole[index]), index
    assert np.array_equal(np.asarray(a), whole) and np.array_equal(np.unique(a, axis=0), whole)
    with pytest.raises(IndexError):
        a[[10]]


def test_interrupted_prepare_resumes_to_the_same_cache(tmp_path, monkeypatch):
    from trainer.data import cache
    whole = prepare(_small(tmp_path / "whole"), progress=False)
    write = cache.ShardWriter.write

    def killed_after_two(self, shard, arrays):
        write(self, shard, arrays)
        if shard == 1:
            raise KeyboardInterrupt
    monkeypatch.setattr(cache.ShardWriter, "write", killed_after_two)
    with pytest.raises(KeyboardInterrupt):
        prepare(_small(tmp_path / "part"), progress=False)
    assert not (tmp_path / "part/index.json").exists()
    with pytest.raises(FileNotFoundError, match="run the same command again to resume"):
        load_cache(tmp_path / "part")
    monkeypatch.undo()
    made = []
    monkeypatch.setattr(cache.ShardWriter, "write", lambda self, shard, arrays: (made.append(shard), write(self, shard, arrays)))
    resumed = prepare(_small(tmp_path / "part"), progress=False)
    assert made == [2] and resumed["snapshot"] == whole["snapshot"] and resumed["n"] == 10
    a, b = load_cache(tmp_path / "whole"), load_cache(tmp_path / "part")
    for k in a.arrays:
        assert np.array_equal(np.asarray(a.arrays[k]), np.asarray(b.arrays[k])), k
    assert not (tmp_path / "part" / cache.PROGRESS).exists()


def test_prepare_keeps_a_finished_cache_and_refuses_other_settings(tmp_path, monkeypatch):
    from trainer.data import cache
    first = prepare(_small(tmp_path / "c"), progress=False)
    monkeypatch.setattr(cache, "composite", lambda *a, **k: pytest.fail("a finished cache was regenerated"))
    assert prepare(_small(tmp_path / "c"), progress=False) == first
    with pytest.raises(ValueError, match="other settings"):
        prepare(_small(tmp_path / "c", seed=6), progress=False)


def test_partial_cache_of_other_settings_is_refused(tmp_path, monkeypatch):
    from trainer.data import cache
    write = cache.ShardWriter.write

    def killed(self, shard, arrays):
        write(self, shard, arrays)
        raise KeyboardInterrupt
    monkeypatch.setattr(cache.ShardWriter, "write", killed)
    with pytest.raises(KeyboardInterrupt):
        prepare(_small(tmp_path / "c"), progress=False)
    monkeypatch.undo()
    with pytest.raises(ValueError, match=r"other settings \(n, settings differ\)"):
        prepare(_small(tmp_path / "c", n=12), progress=False)


def test_earlier_npz_caches_still_load(tmp_path):
    occ = pack_occ(np.random.default_rng(0).random((3, 8, 8, 8)) > 0.5)
    arrays = {"views": np.zeros((3, 2, 4, 16, 16), np.uint8), "occ": occ, "rotation": np.eye(3)[None].repeat(3, 0),
              "translation": np.zeros((3, 3), np.float32), "scale": np.ones(3, np.float32),
              "layout_mask": np.ones((3, 3), np.float32)}
    np.savez(tmp_path / "shard-00000.npz", **arrays)
    (tmp_path / "index.json").write_text(json.dumps({"grid": 8, "image_size": 16, "n": 3, "snapshot": "old",
                                                     "shards": ["shard-00000.npz"]}))
    ds = load_cache(tmp_path)
    assert len(ds) == 3 and np.array_equal(ds.batch([1])["occ"][0].numpy().astype(bool), unpack_occ(occ, 8)[1])


def test_write_shards_makes_a_new_cache_and_replaces_an_old_one(tmp_path):
    from trainer.data.cache import write_shards
    arrays = lambda n: {"views": np.full((n, 2, 4, 8, 8), n, np.uint8), "occ": np.zeros((n, 64), np.uint8)}
    first = write_shards(tmp_path / "new", arrays(5), {"grid": 16, "image_size": 8}, 2)
    assert first["n"] == 5 and len(first["shards"]) == 3
    again = write_shards(tmp_path / "new", arrays(3), {"grid": 16, "image_size": 8}, 2)
    assert again["n"] == 3 and sorted(p.name for p in (tmp_path / "new").iterdir()) == [
        "index.json", "shard-00000", "shard-00001"]
    assert int(np.asarray(load_cache(tmp_path / "new").arrays["views"]).max()) == 3
