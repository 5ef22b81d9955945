import hashlib
import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from trainer.checkpoints import file_hash, load_checkpoint, mark_last, read_manifest, resolve, save_checkpoint
from trainer.config import model_config
from trainer.model import FlowModel

from .conftest import tiny_train_config


def test_save_and_load_roundtrip(tmp_path):
    torch.manual_seed(0)
    m = FlowModel(model_config("tiny"))
    ema = {k: v + 1 if v.dtype.is_floating_point else v for k, v in m.state_dict().items()}
    path = save_checkpoint(tmp_path / "step-0000001", m, ema, {"stage": "sft", "sampler": {"steps": 7}},
                           {"optimizer": {}, "step": 1})
    assert sorted(p.name for p in path.iterdir()) == ["ema.safetensors", "manifest.json", "model.safetensors", "optimizer.pt"]
    manifest = read_manifest(path)
    files = {n: file_hash(path / n) for n in ("model.safetensors", "ema.safetensors")}
    assert manifest["files"] == files
    # the hash covers both weight files: `sha256sum model.safetensors ema.safetensors | sha256sum`
    listing = f"{files['model.safetensors']}  model.safetensors\n{files['ema.safetensors']}  ema.safetensors\n"
    assert manifest["hash"] == hashlib.sha256(listing.encode()).hexdigest()
    assert manifest["model_config"]["grid"] == 16
    raw, _ = load_checkpoint(path, weights="model")
    avg, man = load_checkpoint(path)
    assert torch.equal(raw.shape_pos, m.shape_pos) and torch.equal(avg.shape_pos, m.shape_pos + 1)
    assert avg.sample_config.steps == 7 and man["stage"] == "sft"


def test_run_folder_resolves_to_last_and_prunes(tmp_path):
    m = FlowModel(model_config("tiny"))
    for step in (1, 2, 3):
        p = save_checkpoint(tmp_path / f"step-{step:07d}", m, None, {})
        mark_last(tmp_path, p, keep=2)
    assert resolve(tmp_path).name == "step-0000003"
    assert sorted(p.name for p in tmp_path.glob("step-*")) == ["step-0000002", "step-0000003"]


def test_missing_checkpoint_says_what_to_pass(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path)


def test_the_hash_tells_apart_checkpoints_that_differ_only_in_their_ema_weights(tmp_path):
    m = FlowModel(model_config("tiny"))
    ema = {k: v + 1 if v.dtype.is_floating_point else v for k, v in m.state_dict().items()}
    a, b = save_checkpoint(tmp_path / "a", m, None, {}), save_checkpoint(tmp_path / "b", m, ema, {})
    ha, hb = read_manifest(a)["hash"], read_manifest(b)["hash"]
    assert ha != hb and len(ha) == 64 and int(ha, 16) >= 0


def _tamper(path, name):
    """Rewrite one weight file as a valid safetensors file with one value changed."""
    state = load_file(str(path / name))
    state["shape_pos"] = state["shape_pos"] + 1e-3
    save_file(state, str(path / name))


@pytest.mark.parametrize("weights", ["ema", "model"])
def test_an_edited_weight_file_is_a_clear_error(tmp_path, weights):
    path = save_checkpoint(tmp_path / "step-0000001", FlowModel(model_config("tiny")), None, {})
    _tamper(path, f"{weights}.safetensors")
    with pytest.raises(ValueError, match=f"checkpoint {path}: {weights}.safetensors does not match the sha256"):
        load_checkpoint(path, weights=weights)


def test_resuming_from_an_edited_checkpoint_is_a_clear_error(tmp_path, tiny_cache):
    from trainer import sft
    sft.train(tiny_train_config(tmp_path, tiny_cache, steps=2, vae_steps=1, ckpt_every=2))
    _tamper(tmp_path / "step-0000002", "ema.safetensors")
    with pytest.raises(ValueError, match="ema.safetensors does not match"):
        sft.train(tiny_train_config(tmp_path, tiny_cache, steps=4, vae_steps=1, ckpt_every=2))


def test_a_manifest_from_before_the_file_hashes_still_loads(tmp_path):
    path = save_checkpoint(tmp_path / "step-0000001", FlowModel(model_config("tiny")), None, {})
    manifest = read_manifest(path)
    del manifest["files"]
    (path / "manifest.json").write_text(json.dumps(manifest))
    _tamper(path, "ema.safetensors")     # unverifiable without "files": loads as before
    model, _ = load_checkpoint(path)
    assert model.checkpoint_hash == manifest["hash"]
