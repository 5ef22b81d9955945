"""The auxiliary category loss: the head learns the cache's categories through the condition tokens, later
stages inherit its vocabulary, a stage without the loss leaves the head as it was, and misuse is refused."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from tests.trainer.conftest import assert_resume_is_exact, tiny_train_config
from trainer import dpo, sft
from trainer.checkpoints import load_checkpoint, resolve
from trainer.cli import main
from trainer.config import DPOConfig
from trainer.data.loader import attach_categories, data_vocabulary, open_dataset
from trainer.data.views import views_to_tensor

HEAD = ("category_pool.weight", "category_head.1.weight")


@pytest.fixture(scope="module")
def category_run(tmp_path_factory, tiny_cache):
    """A tiny model trained 60 steps with the category loss and one layer over the condition tokens."""
    out = tmp_path_factory.mktemp("category_run")
    sft.train(tiny_train_config(out, tiny_cache, steps=60, category_loss=1.0, cond_layers=1, resume=False))
    return out


def head_accuracy(model, dataset) -> float:
    """The category head's accuracy on every row of a dataset of the model's vocabulary."""
    attach_categories(dataset, model.cfg.categories)
    batch = dataset.batch(list(range(len(dataset))))
    with torch.no_grad():
        logits = model.eval().category_logits(model.encode_condition(views_to_tensor(batch["views"])))
    return float((logits.argmax(1) == batch["category"]).float().mean())


def test_the_head_learns_the_categories_and_the_checkpoint_keeps_them(category_run, tiny_cache):
    model, manifest = load_checkpoint(category_run)
    assert model.cfg.categories == data_vocabulary([str(tiny_cache)]) and len(model.cfg.categories) > 2
    assert model.cfg.cond_layers == 1 and len(model.cond_attn) == 1
    assert manifest["category_loss"] == {"weight": 1.0, "rows_with_category": 32, "rows": 32}
    logs = [json.loads(line) for line in (category_run / "log.jsonl").read_text().splitlines()]
    assert logs[-1]["category_loss"] < 0.7 * logs[0]["category_loss"], [row["category_loss"] for row in logs]
    ds = open_dataset(str(tiny_cache), 16, 32, progress=False)
    attach_categories(ds, model.cfg.categories)
    commonest = np.bincount(ds.arrays["category"]).max() / len(ds)
    assert head_accuracy(model, ds) > commonest + 0.2


def test_a_later_stage_inherits_the_vocabulary_and_without_the_loss_leaves_the_head(category_run, tiny_cache,
                                                                                         tmp_path):
    parent = load_file(str(resolve(category_run) / "ema.safetensors"))
    for loss, changed in ((1.0, True), (0.0, False)):
        out = tmp_path / f"sft-{loss}"
        sft.train(tiny_train_config(out, tiny_cache, steps=10, init=str(category_run), stage="sft", category_loss=loss))
        model, _ = load_checkpoint(out, weights="model")
        assert model.cfg.categories == load_checkpoint(category_run)[0].cfg.categories
        state = model.state_dict()
        assert all(torch.equal(state[k], parent[k]) != changed for k in HEAD), (loss, changed)


def test_resume_with_the_category_loss_is_exact(tiny_cache, tmp_path):
    assert_resume_is_exact(sft.train, lambda out: tiny_train_config(out, tiny_cache, category_loss=1.0, cond_layers=1),
                           tmp_path)


def test_misuse_is_refused_with_the_reason(tiny_ckpt, category_run, tiny_cache, tmp_path, capsys):
    # A parent trained without the loss has no head: its vocabulary would be unknown.
    with pytest.raises(ValueError, match="has no category head"):
        sft.train(tiny_train_config(tmp_path / "a", tiny_cache, init=str(tiny_ckpt), category_loss=1.0))
    # DPO and distillation keep the parent's head; the loss is a flow-matching stage's.
    with pytest.raises(ValueError, match="flow-matching stages"):
        dpo.train(DPOConfig(config="tiny", init=str(category_run), out=str(tmp_path / "d"), data=[str(tiny_cache)],
                            category_loss=1.0, progress=False))
    # The command line says so in one line, exit status 2, and writes no run.
    assert main(["pretrain", "--config", "tiny", "--init", str(tiny_ckpt), "--category-loss", "1",
                 "--data", str(tiny_cache), "--out", str(tmp_path / "cli")]) == 2
    assert "has no category head" in capsys.readouterr().err
    assert not (tmp_path / "cli").exists()


def test_the_probe_reports_the_checkpoints_own_head(category_run, tiny_ckpt, tiny_cache):
    from trainer import probe
    from trainer.data.cache import shape_names
    from trainer.references import row_categories
    ds = open_dataset(str(tiny_cache), 16, 32, progress=False)
    cats = row_categories(ds, shape_names(tiny_cache))
    report = probe.category_probe(ds, ds, cats, cats, ckpt=str(category_run), progress=False)
    model = load_checkpoint(category_run)[0]
    assert report["category_head"] == {"accuracy": head_accuracy(model, ds), "rows": 32,
                                       "accuracy_se": report["category_head"]["accuracy_se"]}
    assert "category_head" not in probe.category_probe(ds, ds, cats, cats, ckpt=str(tiny_ckpt), progress=False)
