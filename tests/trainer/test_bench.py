import math

import pytest

from trainer.bench import summarize


def test_summarize_gives_the_mean_and_its_standard_error_per_metric():
    rows = [{"viou": 0.0, "chamfer": 1.0}, {"viou": 1.0, "chamfer": 1.0}]
    out = summarize(rows, keys=("viou", "chamfer"))
    # sample std of (0, 1) is 1/sqrt(2); over sqrt(2) rows: 0.5
    assert out == {"viou": 0.5, "viou_se": 0.5, "chamfer": 1.0, "chamfer_se": 0.0}


def test_summarize_of_one_row_has_no_standard_error():
    out = summarize([{"viou": 0.3}], keys=("viou",))
    assert out["viou"] == 0.3 and math.isnan(out["viou_se"])


def test_summarize_seeds_averages_each_row_over_its_seeds_first():
    from trainer.bench import summarize_seeds
    rows = [[{"viou": 0.0, "f1@0.01_dense": 0.5}, {"viou": 1.0, "f1@0.01_dense": 0.7}],   # seed 0 (with dense)
            [{"viou": 0.2}, {"viou": 0.8}]]                                              # seed 1
    out = summarize_seeds(rows, keys=("viou", "f1@0.01_dense"))
    # per-row means 0.1 and 0.9: mean 0.5, std 0.566 / sqrt(2) = 0.4; dense from seed 0 alone
    assert out["viou"] == 0.5 and out["viou_se"] == 0.4 and out["f1@0.01_dense"] == 0.6


def test_stage_deltas_pair_consecutive_stages_and_ask_for_two_standard_errors():
    from trainer.bench import stage_deltas
    row = lambda v, c: {"viou": v, "chamfer": c}
    rows = {"pretrain": [[row(0.1, 0.5), row(0.2, 0.5), row(0.3, 0.5)]],
            "midtrain": [[row(0.2, 0.5), row(0.3, 0.5), row(0.4, 0.5)]],     # +0.1 on every row: se 0
            "sft": [[row(0.3, 0.5), row(0.2, 0.5), row(0.4, 0.5)]]}          # +0.1, -0.1, 0: no change
    d = stage_deltas(rows)
    assert list(d) == ["pretrain -> midtrain", "midtrain -> sft"]
    assert d["pretrain -> midtrain"]["delta"]["viou"] == pytest.approx(0.1) and d["pretrain -> midtrain"]["improves_2se"]
    assert not d["midtrain -> sft"]["improves_2se"]


def test_a_tiny_bench_reports_novel_instances_and_novel_categories_apart(tmp_path):
    """The whole bench at the tiny preset (a minute or two), with the category head: both splits reported, from
    caches that keep them apart."""
    import argparse
    import json

    from model_suite.procedural import CATEGORIES, generate_shapes
    from trainer.bench import STAGES, main
    from trainer.data.cache import load_cache, shape_names
    from trainer.data.splits import NOVEL_CATEGORIES
    from trainer.references import row_categories

    generate_shapes(tmp_path / "shapes", count=4 * len(CATEGORIES), seed=0)   # 2 training + 2 novel instances each
    args = argparse.Namespace(work=str(tmp_path / "work"), shapes=str(tmp_path / "shapes"), config="tiny", scale=0.01,
                              train_scale=1.0, threads=1, poses="upright", encoder="", dense_points=0, seed=0,
                              cond_layers=1, category_loss=0.5)
    report = main(args)
    # the recipe with the category head: every stage carries it, and the flow-matching stages trained it
    from trainer.checkpoints import load_checkpoint
    for stage in STAGES:
        model, manifest = load_checkpoint(tmp_path / "work/runs" / stage)
        assert model.cfg.cond_layers == 1 and model.cfg.categories == report["vocabulary"]["train_categories"]
        assert ("category_loss" in manifest) == (stage in ("pretrain", "midtrain", "sft")), stage
    assert report["category_loss"] == 0.5 and report["throughput"]["sft_step_sec_min"] > 0

    data = tmp_path / "work/data/procedural-upright"
    names = {key: set(shape_names(data / key)) for key in ("render", "mid", "sft", "heldout-novel-instances",
                                                           "heldout-novel-categories")}
    rows = {key: set(row_categories(load_cache(data / key), shape_names(data / key))) for key in names}
    training = ("render", "mid", "sft")
    trained_names = set().union(*(names[k] for k in training))
    trained_categories = set().union(*(rows[k] for k in training))
    assert not trained_categories & set(NOVEL_CATEGORIES)
    assert rows["heldout-novel-categories"] <= set(NOVEL_CATEGORIES)
    assert not names["heldout-novel-categories"] & trained_names
    assert not names["heldout-novel-instances"] & trained_names
    assert rows["heldout-novel-instances"] <= trained_categories

    splits = report["splits"]
    assert set(splits) == {"novel_instances", "novel_categories"}
    for split in splits.values():
        assert set(STAGES) <= set(split["stage_table"]) and "viou" in split["stage_table"]["distill"]
        assert {"mean_shape", "nearest_training_shape", "vae_reconstruction"} <= set(split["stage_table_bounds"])
        assert "viou" in split["image_use"]["gap"] and "shuffled image (distill)" in split["stage_table"]
    assert "category_mean_shape" in splits["novel_instances"]["stage_table_bounds"]
    assert "category_mean_shape" not in splits["novel_categories"]["stage_table_bounds"]
    assert splits["novel_categories"]["category_mean_shape"].startswith("none: no training row shows")
    assert set(splits["novel_categories"]["categories"]) <= set(NOVEL_CATEGORIES)
    assert report["vocabulary"]["novel_categories"] == list(NOVEL_CATEGORIES)
    assert json.loads((tmp_path / "work/bench.json").read_text())["splits"].keys() == splits.keys()
    tables = (tmp_path / "work/bench.md").read_text()
    assert "Held-out novel instances" in tables and "Held-out novel categories" in tables
    assert "| category_mean_shape | none: no training row shows" in tables

    # the fair comparisons: the best stage's point estimate (consensus of 4) on both splits, the category's random
    # training instance where the category is known, and the goals' point-estimate figures beside the old ones
    for split in splits.values():
        pe = split["point_estimate"]
        assert pe["k"] == 4 and pe["seeds"] == [0, 1, 2, 3] and pe["row"] == f"consensus of 4 ({pe['stage']})"
        assert pe["stage"] in STAGES and "viou" in split["stage_table"][pe["row"]]
        assert "viou" in split["floor_to_ceiling_share"][pe["row"]] and f"| {pe['row']} |" in tables
    assert "viou" in splits["novel_instances"]["point_estimate"]["over_one_sample"]
    assert "viou" in splits["novel_instances"]["stage_table_bounds"]["category_random_instance"]
    assert "category_random_instance" not in splits["novel_categories"]["stage_table_bounds"]
    assert splits["novel_categories"]["category_random_instance"].startswith("none: no training row shows")
    goals = report["goals"]
    assert {"best_share", "best_share_at_least_half", "best_share_point_estimate",
            "best_share_over_sampler_floor"} <= set(goals)
    assert set(goals["best_share_point_estimate"]) == {"viou", "chamfer"}

    # and the new rows alone, from the finished work dir (no training): what a bench run before them needs
    from trainer.bench import point_estimates
    again = point_estimates(argparse.Namespace(work=args.work, poses="upright", consensus=2, dense_points=0))
    new = again["splits"]["novel_instances"]
    assert new["point_estimate"]["stage"] == splits["novel_instances"]["point_estimate"]["stage"]
    assert set(new["new_rows"]) == {new["point_estimate"]["row"], "category_random_instance"}
    # the random instance is fixed by (draw, row): the same figure as the bench's
    assert new["new_rows"]["category_random_instance"] == splits["novel_instances"]["stage_table_bounds"][
        "category_random_instance"]
    assert "best_share_point_estimate" in new["goals"] and (tmp_path / "work/point_estimates.md").exists()
    assert "category_random_instance" in again["splits"]["novel_categories"]


@pytest.mark.parametrize("named", [False, True], ids=["learned", "text"])
def test_a_tiny_bench_gives_the_model_the_category(tmp_path, capsys, named):
    """`bench --category-condition` at the tiny preset: every stage keeps the token and was trained and timed with
    each row's category; the novel categories are sampled as 'unknown', or by their names' embeddings with
    `--category-text`."""
    import argparse

    from model_suite.procedural import CATEGORIES, generate_shapes
    from trainer.bench import STAGES, main
    from trainer.checkpoints import load_checkpoint

    generate_shapes(tmp_path / "shapes", count=4 * len(CATEGORIES), seed=0)
    args = argparse.Namespace(work=str(tmp_path / "work"), shapes=str(tmp_path / "shapes"), config="tiny", scale=0.01,
                              train_scale=1.0, threads=1, poses="upright", encoder="", dense_points=0, seed=0,
                              category_condition=not named, category_text=named, consensus=0)
    report = main(args)
    assert report["category_condition"] and report["category_text"] == named
    assert report["throughput"]["dpo_step_sec_min"] > 0
    for stage in STAGES:
        model, manifest = load_checkpoint(tmp_path / "work/runs" / stage)
        assert model.cfg.category_condition and model.cfg.categories == report["vocabulary"]["train_categories"]
        assert model.cfg.category_text == named
        if stage in ("pretrain", "midtrain", "sft"):
            assert manifest["category_condition"]["rows_with_category"] == manifest["category_condition"]["rows"]
    novel = report["vocabulary"]["novel_categories"]
    assert not set(model.cfg.categories) & set(novel)
    assert ((model.category_ids(novel) > len(model.cfg.categories)).all() if named
            else (model.category_ids(novel) == -1).all())
    for split in report["splits"].values():
        assert "viou" in split["stage_table"]["distill"] and "viou" in split["image_use"]["gap"]
        assert "viou" in split["stage_table"]["category unknown (distill)"]
    # What the category adds: every novel instance is named; the novel categories only by their names' embeddings
    # (a learned vocabulary reads them as unknown, so withholding changes nothing there).
    use = {name: split["category_use"] for name, split in report["splits"].items()}
    assert use["novel_instances"]["named"] == use["novel_instances"]["n"] > 0
    assert use["novel_categories"]["named"] == (use["novel_categories"]["n"] if named else 0)
    if not named:
        assert use["novel_categories"]["gap"]["viou"] == 0.0
    assert "what the category adds (distill" in (tmp_path / "work/bench.md").read_text()
    # Each split's evaluation shows its progress, part by part, and ends at its count: the main split reuses the
    # samplers' distilled rows (4 stages, image use, category use, references), the other samples all 5 stages.
    err = capsys.readouterr().err.replace("\r", "\n")
    assert "evaluate novel_instances (" in err and "category use" in err
    main_split, _, other_split = err.partition("evaluate novel_categories")
    assert "7/7" in main_split and "8/8" in other_split


def test_the_bench_without_a_shape_folder_says_how_to_make_one(tmp_path, capsys):
    from trainer.cli import main
    assert main(["bench", "--work", str(tmp_path), "--config", "tiny"]) == 2
    assert "python -m model_suite.procedural --out" in capsys.readouterr().err
