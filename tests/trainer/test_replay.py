"""SFT with replay (TrainConfig.replay): a share of every batch comes from the parent's data, the new rows are seen
as often as without it, an engine export mixes with a cache, and a bad share is refused. DPO with replay: each step
adds the flow error of replayed rows to the loss, resumes exactly, and leaves the pairs' part as it was; distill
refuses --replay."""
from __future__ import annotations

import pytest
import torch

from tests.trainer.conftest import assert_resume_is_exact, tiny_train_config
from tests.trainer.test_dpo import pair_dataset
from tests.trainer.test_export import export_dir  # noqa: F401
from trainer import dpo, sft
from trainer.config import DistillConfig, DPOConfig
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


def test_dpo_adds_the_replayed_rows_flow_error_to_its_loss(tiny_ckpt, tiny_cache):
    from trainer.checkpoints import load_checkpoint
    from trainer.flow import loss_weights
    from trainer.loop import step_generator
    from trainer.objectives import FlowObjective

    policy, _ = load_checkpoint(tiny_ckpt, weights="model")
    ref, _ = load_checkpoint(tiny_ckpt)
    pairs, replay = pair_dataset(tiny_cache), open_dataset(str(tiny_cache), 16, 32, progress=False)
    cfg = DPOConfig(config="tiny", sft_weight=0.5, batch_size=8, replay=[str(tiny_cache)], replay_share=0.25)
    ref_obj, obj = FlowObjective(ref, loss_weights(cfg)), FlowObjective(policy, loss_weights(cfg))
    batch = pairs.batch(range(8))
    with torch.no_grad():
        plain_total, plain = dpo.dpo_step(cfg, policy, ref_obj)(obj, batch, step_generator(0, 0, 0))
        total, logs = dpo.dpo_step(cfg, policy, ref_obj, replay)(obj, batch, step_generator(0, 0, 0))
    assert dpo.replay_rows(cfg) == 2 and logs["loss/replay"] > 0
    assert logs["loss"] == pytest.approx(total.item()) == pytest.approx(
        logs["loss/dpo"] + 0.5 * logs["loss/sft"] + logs["loss/replay"], rel=1e-5)
    # The pairs' part is what it was without replay: same noise, the replayed rows drawn after it.
    assert logs["loss/dpo"] == pytest.approx(plain["loss/dpo"], rel=1e-4)
    assert logs["loss/sft"] == pytest.approx(plain["loss/sft"], rel=1e-4)
    assert plain_total.item() == pytest.approx(plain["loss"]) and "loss/replay" not in plain


def test_dpo_with_replay_records_it_and_resumes_exactly(tmp_path, tiny_ckpt, tiny_cache):
    pairs = pair_dataset(tiny_cache, tmp_path / "pairs")
    make = lambda out: DPOConfig(config="tiny", init=str(tiny_ckpt), out=str(out), data=[str(pairs)], steps=4,
                                 batch_size=8, lr=1e-3, warmup=1, beta=50.0, sft_weight=0.1, log_every=2,
                                 ckpt_every=2, keep_last=5, progress=False, replay=[str(tiny_cache)], replay_share=0.5)
    assert_resume_is_exact(dpo.train, make, tmp_path)
    manifest = read_manifest(resolve(tmp_path / "full"))
    assert manifest["replay"] == {"sources": [str(tiny_cache)], "rows": 32, "pairs": 32, "share": 0.5,
                                  "rows_per_step": 4}
    assert "loss/replay" in manifest["metrics"]


def test_dpo_refuses_a_bad_share_and_distill_refuses_replay(tmp_path, tiny_ckpt, tiny_cache):
    pairs = pair_dataset(tiny_cache, tmp_path / "pairs")
    with pytest.raises(ValueError, match="between 0 and 1"):
        dpo.train(DPOConfig(config="tiny", init=str(tiny_ckpt), out=str(tmp_path / "d"), data=[str(pairs)],
                            replay=[str(tiny_cache)], replay_share=1.0))
    with pytest.raises(ValueError, match="one more --data"):
        from trainer import distill
        distill.train(DistillConfig(config="tiny", init=str(tiny_ckpt), out=str(tmp_path / "x"),
                                    data=[str(tiny_cache)], replay=[str(tiny_cache)]))
    assert not (tmp_path / "d").exists() and not (tmp_path / "x").exists()
