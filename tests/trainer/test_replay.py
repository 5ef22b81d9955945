"""SFT with replay (TrainConfig.replay): a share of every batch comes from the parent's data, the new rows are seen
as often as without it, an engine export mixes with a cache, and a bad share is refused."""
from __future__ import annotations

import pytest

from tests.trainer.conftest import tiny_train_config
from tests.trainer.test_export import export_dir  # noqa: F401
from trainer import sft
from trainer.checkpoints import read_manifest, resolve
from trainer.data.loader import open_dataset
from trainer.loop import batch_indices, mixed_batch_indices


def test_each_batch_takes_its_share_from_the_replayed_rows():
    fresh = 12
    mixed = type("D", (), {"replay_rows": 1000, "__len__": lambda self: fresh + 1000})()
    seen = []
    for step in range(6):
        rows = mixed_batch_indices(mixed, 32, 0, step, 0.75)
        assert len(rows) == 32 and sum(r >= fresh for r in rows) == 24, rows
        new = [r for r in rows if r < fresh]
        assert new == batch_indices(fresh, 8, 0, step)      # the new rows in their own epochs
        seen += new
    assert set(seen) == set(range(fresh))
    # Split across ranks, the global batch is the same rows.
    assert sorted(mixed_batch_indices(mixed, 32, 0, 3, 0.75, 0, 2) + mixed_batch_indices(mixed, 32, 0, 3, 0.75, 1, 2)) \
        == sorted(mixed_batch_indices(mixed, 32, 0, 3, 0.75))
    # Without replayed rows it is the plain batch.
    assert mixed_batch_indices(type("P", (), {"__len__": lambda self: 40})(), 8, 0, 5, 0.5) == batch_indices(40, 8, 0, 5)


def test_sft_replays_a_cache_beside_an_export(tmp_path, tiny_cache, tiny_ckpt, export_dir):  # noqa: F811
    out = tmp_path / "replay"
    sft.train(tiny_train_config(out, export_dir, init=str(tiny_ckpt), stage="sft", steps=4, ckpt_every=4,
                                replay=[str(tiny_cache)], replay_share=0.5))
    manifest = read_manifest(resolve(out))
    assert manifest["replay"] == {"sources": [str(tiny_cache)], "rows": 32, "new_rows": 1, "share": 0.5}
    assert manifest["step"] == 4
    # The export has no shape ids, the cache has: the two still mix (a batch never serves them).
    both = open_dataset([str(export_dir), str(tiny_cache)], 16, 32, progress=False)
    assert len(both) == 33 and "shape_id" not in both.arrays and both.batch([0, 5])["occ"].shape[0] == 2


@pytest.mark.parametrize("share", [0.0, 1.0])
def test_a_share_outside_zero_to_one_is_refused(tmp_path, tiny_cache, tiny_ckpt, share):
    from trainer.cli import main
    assert main(["sft", "--config", "tiny", "--init", str(tiny_ckpt), "--data", str(tiny_cache), "--replay",
                 str(tiny_cache), "--replay-share", str(share), "--out", str(tmp_path / "r"), "--steps", "2"]) == 2
    assert not (tmp_path / "r").exists()
