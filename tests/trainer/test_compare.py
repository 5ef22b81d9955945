"""Paired comparison of two checkpoints: closed-form deltas and standard errors."""

import numpy as np
import pytest

from trainer.config import CompareConfig
from trainer.evaluate import paired


def rows(values):
    return [{"viou": v, "chamfer": 1 - v} for v in values]


def test_paired_delta_averages_seeds_per_row_before_the_standard_error():
    a = [rows([0.5, 0.6, 0.7]), rows([0.7, 0.6, 0.5])]       # [seed][row]
    b = [rows([0.4, 0.6, 0.5]), rows([0.6, 0.4, 0.5])]
    delta, se = paired(a, b)
    per_row = np.array([(0.1 + 0.1) / 2, (0.0 + 0.2) / 2, (0.2 + 0.0) / 2])
    assert delta["viou"] == pytest.approx(per_row.mean())
    assert se["viou"] == pytest.approx(per_row.std(ddof=1) / np.sqrt(3))
    assert delta["chamfer"] == pytest.approx(-per_row.mean())
    assert "f1@0.01" not in delta                             # a metric no row has is left out


def test_a_metric_only_some_seeds_scored_is_paired_over_those():
    """F1@0.01 on 100k points is scored on the first seed only: its delta is that seed's, not dropped."""
    a, b = [rows([0.5, 0.6]), rows([0.7, 0.6])], [rows([0.4, 0.6]), rows([0.6, 0.4])]
    for r, v in zip(a[0], (0.3, 0.2)):
        r["f1@0.01_dense"] = v
    for r, v in zip(b[0], (0.1, 0.1)):
        r["f1@0.01_dense"] = v
    delta, se = paired(a, b)
    assert delta["f1@0.01_dense"] == pytest.approx(0.15) and se["f1@0.01_dense"] == pytest.approx(0.05)
    assert delta["viou"] == pytest.approx((0.1 + 0.1 + 0.0 + 0.2) / 4)


def test_identical_checkpoints_differ_by_zero():
    a = [rows([0.1, 0.9])]
    delta, se = paired(a, a)
    assert delta["viou"] == 0 and se["viou"] == 0


def test_compare_config_refuses_no_seeds():
    with pytest.raises(AssertionError, match="seed"):
        CompareConfig(seeds=[])


def test_compare_cli_on_a_dpo_checkpoint_and_its_reference(tmp_path, tiny_ckpt, tiny_cache, capsys):
    """A DPO checkpoint against its own reference: paired deltas for every metric, and preference
    accuracy for the DPO side only (the reference has no implicit reward of its own)."""
    import json

    from trainer import dpo
    from trainer.cli import main
    from trainer.config import DPOConfig

    from .test_dpo import pair_dataset

    pairs = pair_dataset(tiny_cache, tmp_path / "pairs")
    dpo.train(DPOConfig(config="tiny", init=str(tiny_ckpt), out=str(tmp_path / "dpo"), data=[str(pairs)], steps=2,
                        batch_size=8, lr=1e-3, warmup=1, beta=50.0, log_every=1, ckpt_every=2, progress=False))
    assert main(["compare", "--a", str(tmp_path / "dpo"), "--b", str(tiny_ckpt), "--data", str(tiny_cache),
                 "--pairs", str(pairs), "--n", "4", "--seeds", "0", "1", "--steps", "2", "--points", "500",
                 "--emd-points", "32", "--no-icp", "--draws", "2"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 4 and report["seeds"] == [0, 1]
    assert set(report["delta"]) == set(report["delta_se"]) and "viou" in report["delta"]
    assert report["a"]["stage"] == "dpo" and report["preference"]["b"] is None
    acc = report["preference"]["a"]
    assert 0 <= acc["accuracy"] <= 1 and acc["n"] > 0 and acc["se"] is not None

    # Again with the roles swapped: the pretrained checkpoint names no DPO reference, so `--ref` scores it
    # against the DPO checkpoint; and every row was scored above, so nothing is sampled a second time.
    import trainer.evaluate

    def no_sampling(*args, **kwargs):
        raise AssertionError("a remembered evaluation was sampled again")

    real, trainer.evaluate.evaluate_model = trainer.evaluate.evaluate_model, no_sampling
    try:
        assert main(["compare", "--a", str(tiny_ckpt), "--b", str(tmp_path / "dpo"), "--data", str(tiny_cache),
                     "--pairs", str(pairs), "--ref", str(tmp_path / "dpo"), "--n", "4", "--seeds", "0", "1",
                     "--steps", "2", "--points", "500", "--emd-points", "32", "--no-icp", "--draws", "2"]) == 0
    finally:
        trainer.evaluate.evaluate_model = real
    swapped = json.loads(capsys.readouterr().out)
    assert swapped["a"]["metrics"] == report["b"]["metrics"] and swapped["b"]["metrics"] == report["a"]["metrics"]
    assert swapped["delta"]["viou"] == pytest.approx(-report["delta"]["viou"])
    mine = swapped["preference"]["a"]
    assert mine["ref"].startswith(str(tmp_path / "dpo")) and mine["n"] == acc["n"]
    # --ref is the reference of both sides, DPO's too: scored against itself, the DPO side has no accuracy
    assert swapped["preference"]["b"] is None


def test_a_remembered_evaluation_is_keyed_by_every_option(tmp_path, tiny_ckpt, tiny_cache):
    from trainer.checkpoints import load_checkpoint, resolve
    from trainer.data.loader import open_dataset
    from trainer.evaluate import evaluate_remembered

    model, _ = load_checkpoint(tiny_ckpt)
    data = open_dataset(str(tiny_cache), model.cfg.grid, model.cfg.image_size, progress=False)
    kw = dict(steps=2, points=300, emd_points=16, icp=False, progress=False)
    before = set((resolve(tiny_ckpt) / "evals").glob("*.json")) if (resolve(tiny_ckpt) / "evals").exists() else set()
    first = evaluate_remembered(model, tiny_ckpt, data, str(tiny_cache), 3, seed=7, **kw)
    again = evaluate_remembered(model, tiny_ckpt, data, str(tiny_cache), 3, seed=7, **kw)
    other = evaluate_remembered(model, tiny_ckpt, data, str(tiny_cache), 3, seed=8, **kw)
    assert first == again and first["rows"] != other["rows"]
    assert len(set((resolve(tiny_ckpt) / "evals").glob("*.json")) - before) == 2


def test_a_dpo_run_at_beta_0_is_scored_at_the_default_beta(tmp_path, tiny_ckpt, tiny_cache):
    """`trainer dpo --beta 0` (the anchor alone) moves the weights, but its manifest's beta would make every
    implicit reward 0 and every pair a tie; its preference accuracy is read at DPO's default beta instead."""
    from trainer import dpo
    from trainer.compare import preference_accuracy
    from trainer.config import DPOConfig
    from trainer.data.loader import open_dataset
    from trainer.rewards import load_reward_models, reward_beta

    from .test_dpo import pair_dataset

    pairs = pair_dataset(tiny_cache, tmp_path / "pairs")
    dpo.train(DPOConfig(config="tiny", init=str(tiny_ckpt), out=str(tmp_path / "anchor"), data=[str(pairs)], steps=2,
                        batch_size=8, lr=1e-3, warmup=1, beta=0.0, sft_weight=1.0, log_every=1, ckpt_every=2,
                        progress=False))
    assert reward_beta({"beta": 0.0}) == reward_beta({}) == DPOConfig().beta and reward_beta({"beta": 7.0}) == 7.0
    assert load_reward_models(str(tmp_path / "anchor"))[2] == DPOConfig().beta
    acc = preference_accuracy(str(tmp_path / "anchor"), open_dataset(str(pairs), 16, 32, kind="pairs", progress=False),
                              draws=2)
    assert acc["n"] > 0 and acc["margin"] != 0.0 and acc["ref"].startswith(str(tiny_ckpt))
