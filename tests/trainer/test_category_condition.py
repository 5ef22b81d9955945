"""The category as a condition token: a model trained with it reads it (the right category lowers its flow loss),
every stage and sampler passes each row's own category, pairs keep it for DPO, and misuse is refused."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.trainer.conftest import assert_resume_is_exact, tiny_train_config
from trainer import distill, dpo, sft
from trainer.checkpoints import load_checkpoint
from trainer.config import DistillConfig, DPOConfig
from trainer.data.loader import attach_categories, data_vocabulary, open_dataset
from trainer.evaluate import evaluate_model
from trainer.flow import loss_weights
from trainer.objectives import FlowObjective, condition_category, flow_inputs
from trainer.pairs import make_self_pairs
from trainer.sampling import sample


@pytest.fixture(scope="module")
def conditioned_run(tmp_path_factory, tiny_cache):
    """A tiny model trained 80 steps from scratch with the category as a condition token."""
    out = tmp_path_factory.mktemp("conditioned_run")
    sft.train(tiny_train_config(out, tiny_cache, steps=80, category_condition=True, resume=False))
    return out


def flow_loss(model, dataset, category: torch.Tensor) -> torch.Tensor:
    """(N,) flow error of every row of `dataset`, with fixed noise and no condition dropout, given `category`."""
    batch = dataset.batch(list(range(len(dataset))))
    cfg = tiny_train_config("unused", "unused")
    objective = FlowObjective(model.eval(), loss_weights(cfg))
    total = torch.zeros(len(dataset))
    with torch.no_grad():
        for k in range(8):                                    # 8 noise draws per row: the rows' own spread
            views, drop, fb, mask = flow_inputs(model, batch, torch.Generator().manual_seed(k), cfg)
            total += objective(views, torch.zeros_like(drop), fb, mask, given=category)
    return total / 8


def test_the_model_reads_the_category_it_was_trained_with(conditioned_run, tiny_cache):
    model, manifest = load_checkpoint(conditioned_run)
    assert model.cfg.category_condition and model.cfg.categories == data_vocabulary([str(tiny_cache)])
    assert manifest["category_condition"] == {"rows_with_category": 32, "rows": 32, "dropout": 0.25}
    ds = open_dataset(str(tiny_cache), 16, 32, progress=False)
    attach_categories(ds, model.cfg.categories)
    right = torch.as_tensor(ds.arrays["category"])
    K = len(model.cfg.categories)
    wrong = (right + 1 + torch.arange(len(right)) % (K - 1)) % K     # another category for every row
    gap = flow_loss(model, ds, wrong) - flow_loss(model, ds, right)
    # The right category fits each row's shape better than a wrong one, on most rows and on average; a model
    # whose category token never trained (always 'unknown', or dropped before the blocks) scores no gap.
    assert gap.mean() > 3 * gap.std() / len(gap) ** 0.5 and (gap > 0).float().mean() > 0.6, gap.tolist()


def test_the_category_token_joins_the_condition_and_none_is_unknown(conditioned_run):
    model, _ = load_checkpoint(conditioned_run)
    views = torch.rand(3, 2, 4, 32, 32)
    unknown = model.encode_condition(views, category=torch.tensor([-1, -1, -1]))
    assert torch.equal(model.encode_condition(views), unknown)
    named = model.encode_condition(views, category=torch.tensor([0, 1, -1]))
    assert named.shape == unknown.shape == (3, model.encoder(views).shape[1] + 1, model.cfg.dim)
    assert not torch.allclose(named[0], unknown[0]) and torch.equal(named[2], unknown[2])
    assert model.category_ids([model.cfg.categories[1], "no-such-kind", None]).tolist() == [1, -1, -1]


def test_sampling_passes_the_object_category(conditioned_run, tiny_ckpt):
    model, _ = load_checkpoint(conditioned_run)
    image = np.full((48, 48, 3), 90, np.uint8)
    mask = np.zeros((48, 48), bool)
    mask[12:36, 16:32] = True
    names = model.cfg.categories
    occ = {c: np.stack([r.occupancy for r in sample(model, image, mask, 2, seed=5, steps=4, category=c)])
           for c in (names[0], names[-1], None, "no-such-kind")}
    assert not np.allclose(occ[names[0]], occ[names[-1]])
    np.testing.assert_array_equal(occ[None], occ["no-such-kind"])           # outside the vocabulary: unknown
    plain, _ = load_checkpoint(tiny_ckpt)                                     # a model without the token ignores it
    a = sample(plain, image, mask, 2, seed=5, steps=4, category=names[0])
    b = sample(plain, image, mask, 2, seed=5, steps=4)
    assert all(np.array_equal(x.occupancy, y.occupancy) for x, y in zip(a, b))


def test_evaluation_gives_each_row_its_own_category_even_with_a_shuffled_image(conditioned_run, tiny_cache):
    model, _ = load_checkpoint(conditioned_run)
    ds = open_dataset(str(tiny_cache), 16, 32, progress=False)
    nameless = open_dataset(str(tiny_cache), 16, 32, progress=False)
    nameless.row_categories = None                                   # every row 'unknown'
    score = lambda d, condition: [r["viou"] for r in evaluate_model(
        model, d, 8, steps=4, points=500, emd_points=32, icp=False, progress=False, condition=condition)["rows"]]
    for condition in ("image", "shuffled"):
        assert score(ds, condition) != score(nameless, condition), condition
    assert score(ds, "none") == score(nameless, "none")            # the null condition drops the category too


def test_pairs_keep_the_category_and_dpo_and_distillation_train_with_it(conditioned_run, tiny_cache, tmp_path):
    model, _ = load_checkpoint(conditioned_run)
    ds = open_dataset(str(tiny_cache), 16, 32, progress=False).subset(range(16))
    make_self_pairs(model, ds, str(tmp_path / "pairs"), k=3, steps=4, progress=False)
    pairs = open_dataset(str(tmp_path / "pairs"), 16, 32, kind="pairs", progress=False)
    meta = json.loads((tmp_path / "pairs" / "index.json").read_text())
    kept = [int(i) for i in pairs.arrays["shape_id"]]
    assert pairs.row_categories == [meta["shapes"][i] for i in kept] and all(pairs.row_categories)
    assert set(pairs.row_categories) <= set(ds.row_categories)
    attach_categories(pairs, model.cfg.categories)
    assert (pairs.arrays["category"] >= 0).all()
    dpo.train(DPOConfig(config="tiny", init=str(conditioned_run), out=str(tmp_path / "dpo"), data=[str(tmp_path / "pairs")],
                        steps=4, batch_size=4, log_every=2, ckpt_every=4, progress=False))
    distill.train(DistillConfig(config="tiny", init=str(tmp_path / "dpo"), out=str(tmp_path / "distill"),
                                data=[str(tiny_cache)], steps=4, batch_size=8, log_every=2, ckpt_every=4,
                                teacher_start_steps=2, progress=False))
    for stage in ("dpo", "distill"):
        child, manifest = load_checkpoint(tmp_path / stage)
        assert child.cfg.category_condition and child.cfg.categories == model.cfg.categories, stage


def test_training_draws_the_category_dropout_after_the_noise(conditioned_run, tiny_cache):
    model, _ = load_checkpoint(conditioned_run)
    ds = open_dataset(str(tiny_cache), 16, 32, progress=False)
    attach_categories(ds, model.cfg.categories)
    batch = ds.batch(list(range(32)))
    g = torch.Generator().manual_seed(3)
    dropped = condition_category(model, batch, g)
    assert ((dropped == -1) | (dropped == batch["category"])).all() and 0 < (dropped == -1).sum() < 32
    assert torch.equal(condition_category(model, batch), batch["category"])          # evaluation: never dropped


def test_resume_is_exact_with_the_category_condition(tiny_cache, tmp_path):
    assert_resume_is_exact(sft.train, lambda out: tiny_train_config(out, tiny_cache, category_condition=True),
                           tmp_path)


def test_misuse_is_refused(conditioned_run, tiny_cache, tmp_path):
    with pytest.raises(ValueError, match="condition token.*one or the other"):
        sft.train(tiny_train_config(tmp_path / "both", tiny_cache, steps=2, init=str(conditioned_run),
                                    stage="sft", category_loss=0.5))
    with pytest.raises(ValueError, match="category_condition needs a category vocabulary"):
        from trainer.config import model_config
        model_config("tiny", category_condition=True)


def test_the_sample_command_takes_the_category(conditioned_run, tiny_ckpt, tmp_path, capsys):
    from PIL import Image

    from trainer.cli import main
    image = np.full((24, 24, 3), 80, np.uint8)
    mask = np.zeros((24, 24), np.uint8)
    mask[6:18, 6:18] = 255
    Image.fromarray(image).save(tmp_path / "i.png")
    Image.fromarray(mask).save(tmp_path / "m.png")
    model, _ = load_checkpoint(conditioned_run)
    args = lambda ckpt, out, *more: ["sample", "--ckpt", str(ckpt), "--image", str(tmp_path / "i.png"), "--mask",
                                     str(tmp_path / "m.png"), "--n", "1", "--steps", "3", "--out", str(tmp_path / out),
                                     *more]
    assert main(args(conditioned_run, "a", "--category", model.cfg.categories[0])) == 0
    assert main(args(conditioned_run, "b", "--category", model.cfg.categories[-1])) == 0
    a, b = (np.load(tmp_path / k / "sample-00.npz")["occupancy"] for k in "ab")
    assert not np.allclose(a, b)
    for ckpt, flag, message in ((conditioned_run, "no-such-kind", "not in the checkpoint's vocabulary"),
                                (tiny_ckpt, model.cfg.categories[0], "does not condition on the category")):
        assert main(args(ckpt, "bad", "--category", flag)) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and not (tmp_path / "bad").exists()


def test_the_probe_reads_the_image_tokens_of_a_model_given_the_category(conditioned_run, tiny_cache):
    from trainer import probe
    from trainer.data.cache import shape_names
    from trainer.references import row_categories
    ds = open_dataset(str(tiny_cache), 16, 32, progress=False)
    cats = row_categories(ds, shape_names(tiny_cache))
    report = probe.category_probe(ds, ds, cats, cats, ckpt=str(conditioned_run))
    assert report["train_rows"] == len(ds) and 0.0 <= report["accuracy"] <= 1.0
    assert report.get("category_head") is None          # it trains no head: the category is given


def test_category_use_withholds_only_the_category(conditioned_run, tiny_cache, tiny_ckpt, tmp_path, capsys):
    from trainer.cli import main
    from trainer.evaluate import category_use
    model, _ = load_checkpoint(conditioned_run)
    ds = open_dataset(str(tiny_cache), 16, 32, progress=False)
    kw = dict(points=500, emd_points=16, progress=False, steps=4)
    use = category_use(model, ds, n=6, seeds=(0, 1), **kw)
    assert use["named"] == 6 and len(use["rows"]["no_category"]) == 2 and len(use["rows"]["no_category"][0]) == 6
    # Same image and noise, only the category withheld: the samples differ, so the paired change is not zero.
    assert use["gap"]["viou"] != 0.0 and use["gap_se"]["viou"] > 0
    given = [evaluate_model(model, ds, 6, seed=s, **kw)["rows"] for s in (0, 1)]
    assert category_use(model, ds, n=6, seeds=(0, 1), own_rows=given, **kw)["gap"] == use["gap"]
    # Rows without a category are unknown either way: the two conditions are the same samples.
    ds.row_categories = None
    blank = category_use(model, ds, n=6, seeds=(0, 1), **kw)
    assert blank["named"] == 0 and blank["gap"]["viou"] == 0.0 and blank["gap"]["chamfer"] == 0.0
    out = tmp_path / "eval.json"
    assert main(["evaluate", "--ckpt", str(conditioned_run), "--data", str(tiny_cache), "--n", "4", "--points", "500",
                 "--emd-points", "16", "--category-use", "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["category_use"]
    assert printed == json.loads(out.read_text())["category_use"] and set(printed["metrics"]) == {"category", "no_category"}
    assert main(["evaluate", "--ckpt", str(tiny_ckpt), "--data", str(tiny_cache), "--category-use",
                 "--out", str(tmp_path / "bad.json")]) == 2
    err = capsys.readouterr().err
    assert "does not condition on the category" in err and "Traceback" not in err and not (tmp_path / "bad.json").exists()
    with pytest.raises(ValueError, match="no category to withhold"):
        evaluate_model(load_checkpoint(tiny_ckpt)[0], ds, 2, condition="no_category", **kw)
