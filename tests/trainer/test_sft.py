import json

import torch

from trainer import sft
from trainer.checkpoints import load_checkpoint

from .conftest import tiny_train_config


def test_loss_falls_on_a_tiny_overfit_set(tmp_path, tiny_cache):
    from trainer.data.loader import open_dataset
    small = open_dataset(str(tiny_cache), 16, 32).subset(range(4))
    cfg = tiny_train_config(tmp_path, tiny_cache, steps=80, lr=2e-3, log_every=10, ckpt_every=1000)
    import trainer.sft as mod
    orig = mod.load_data
    mod.load_data = lambda paths, model, kind="samples", progress=True: small
    try:
        sft.train(cfg)
    finally:
        mod.load_data = orig
    logs = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert logs[-1]["loss"] < 0.85 * logs[0]["loss"], [round(l["loss"], 3) for l in logs]


def test_manifest_records_config_parent_and_data(tmp_path, tiny_cache, tiny_ckpt):
    sft.train(tiny_train_config(tmp_path, tiny_cache, init=str(tiny_ckpt), stage="sft", steps=2, ckpt_every=2))
    _, manifest = load_checkpoint(tmp_path)
    _, parent = load_checkpoint(tiny_ckpt)
    assert manifest["stage"] == "sft" and manifest["step"] == 2
    assert manifest["parent_hash"] == parent["hash"]
    assert manifest["config"]["init"] == str(tiny_ckpt)
    assert manifest["data"][0].startswith("cache:")
    assert not (tmp_path / "vae.safetensors").exists()        # the VAE came with the parent


def test_freeze_shape_trains_only_the_layout_stream(tmp_path, tiny_cache, tiny_ckpt):
    model, _ = sft.train(tiny_train_config(tmp_path, tiny_cache, init=str(tiny_ckpt), steps=3,
                                           ckpt_every=3, freeze_shape=True))
    parent, _ = load_checkpoint(tiny_ckpt)
    layout = {id(p) for p in model.layout_parameters()}
    changed = {n for (n, p), q in zip(model.named_parameters(), parent.parameters()) if not torch.equal(p, q)}
    assert changed and all(id(dict(model.named_parameters())[n]) in layout for n in changed), changed
