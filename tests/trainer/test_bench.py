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
