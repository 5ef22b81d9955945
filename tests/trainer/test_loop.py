import json
from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file

from trainer import sft
from trainer.config import TrainConfig
from trainer.loop import EMA, batch_indices, lr_at

from .conftest import tiny_train_config


def test_batch_indices_cover_each_epoch_once_and_split_by_rank():
    rows = sum((batch_indices(10, 5, seed=0, step=s) for s in range(2)), [])
    assert sorted(rows) == list(range(10))
    assert batch_indices(10, 4, 0, 3, rank=0, world=2) + batch_indices(10, 4, 0, 3, rank=1, world=2) != []
    both = batch_indices(10, 4, 0, 3, 0, 2) + batch_indices(10, 4, 0, 3, 1, 2)
    assert sorted(both) == sorted(batch_indices(10, 4, 0, 3))
    assert len(batch_indices(3, 8, 0, 0)) == 8        # fewer rows than a batch: wrap around


def test_lr_warms_up_then_decays_to_a_tenth():
    cfg = TrainConfig(lr=1.0, warmup=10, steps=110)
    assert lr_at(0, cfg) == 0.1 and lr_at(9, cfg) == 1.0
    assert abs(lr_at(10, cfg) - 1.0) < 1e-9 and abs(lr_at(110, cfg) - 0.1) < 1e-9


def test_ema_warmup_decay():
    m = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.zeros_(m.weight)
    ema = EMA(m, 0.99)
    with torch.no_grad():
        m.weight.fill_(1.0)
    ema.update(m, step=0)                      # decay = min(0.99, 1/10)
    assert abs(ema.state["weight"].item() - 0.9) < 1e-6


def test_resume_continues_bit_for_bit(tmp_path, tiny_cache):
    full = tmp_path / "full"
    sft.train(tiny_train_config(full, tiny_cache, steps=8, ckpt_every=4, keep_last=5))
    crashed = tmp_path / "crashed"
    sft.train(tiny_train_config(crashed, tiny_cache, steps=8, ckpt_every=4, keep_last=5))
    # Simulate a crash after step 4: drop the final checkpoint and point `last` back.
    import shutil
    shutil.rmtree(crashed / "step-0000008")
    (crashed / "last").write_text("step-0000004")
    sft.train(tiny_train_config(crashed, tiny_cache, steps=8, ckpt_every=4, keep_last=5))
    for name in ("model.safetensors", "ema.safetensors"):
        a, b = load_file(str(full / "step-0000008" / name)), load_file(str(crashed / "step-0000008" / name))
        assert all(torch.equal(a[k], b[k]) for k in a), name
    # the log holds each step once: the rows past step 4 the crashed run wrote were dropped on resume
    steps = [json.loads(line)["step"] for line in (crashed / "log.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == 8


def test_resuming_into_another_stages_folder_is_refused(tmp_path, tiny_cache):
    run = tmp_path / "run"
    sft.train(tiny_train_config(run, tiny_cache, steps=2, ckpt_every=2))
    with pytest.raises(ValueError, match="holds a 'pretrain' run, not 'sft'"):
        sft.train(replace(tiny_train_config(run, tiny_cache, steps=2, ckpt_every=2), stage="sft"))


def test_resuming_with_another_recipe_is_refused_and_a_longer_run_is_not(tmp_path, tiny_cache):
    run = tmp_path / "run"
    cfg = tiny_train_config(run, tiny_cache, steps=2, ckpt_every=2)
    sft.train(cfg)
    with pytest.raises(ValueError, match=r"another recipe \(lr: 0\.001 -> 0\.003; seed: 0 -> 3\)"):
        sft.train(replace(cfg, lr=3e-3, seed=3))
    # Where it runs, how it reports, how long it trains, and the spelling of a path are not the recipe.
    sft.train(replace(cfg, steps=4, ckpt_every=4, progress=False, data=[f"{tiny_cache}/../{tiny_cache.name}"]))
    assert json.loads((run / "log.jsonl").read_text().splitlines()[-1])["step"] == 4


def test_recipe_changes_name_each_field_once():
    from trainer.loop import recipe_changes
    cfg = TrainConfig(data=["a"], lr=1e-4)
    saved = {**json.loads(json.dumps(TrainConfig(data=["./a"], lr=2e-4, out="elsewhere").__dict__))}
    assert recipe_changes(saved, cfg) == ["lr: 0.0002 -> 0.0001"]
    assert recipe_changes({}, cfg) == []                      # an older manifest without the field: nothing to check
