import pytest
import torch

from trainer.checkpoints import file_hash, load_checkpoint, mark_last, read_manifest, resolve, save_checkpoint
from trainer.config import model_config
from trainer.model import FlowModel


def test_save_and_load_roundtrip(tmp_path):
    torch.manual_seed(0)
    m = FlowModel(model_config("tiny"))
    ema = {k: v + 1 if v.dtype.is_floating_point else v for k, v in m.state_dict().items()}
    path = save_checkpoint(tmp_path / "step-0000001", m, ema, {"stage": "sft", "sampler": {"steps": 7}},
                           {"optimizer": {}, "step": 1})
    assert sorted(p.name for p in path.iterdir()) == ["ema.safetensors", "manifest.json", "model.safetensors", "optimizer.pt"]
    manifest = read_manifest(path)
    assert manifest["hash"] == file_hash(path / "model.safetensors")
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
