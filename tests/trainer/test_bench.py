import math

from trainer.bench import summarize


def test_summarize_gives_the_mean_and_its_standard_error_per_metric():
    rows = [{"viou": 0.0, "chamfer": 1.0}, {"viou": 1.0, "chamfer": 1.0}]
    out = summarize(rows, keys=("viou", "chamfer"))
    # sample std of (0, 1) is 1/sqrt(2); over sqrt(2) rows: 0.5
    assert out == {"viou": 0.5, "viou_se": 0.5, "chamfer": 1.0, "chamfer_se": 0.0}


def test_summarize_of_one_row_has_no_standard_error():
    out = summarize([{"viou": 0.3}], keys=("viou",))
    assert out["viou"] == 0.3 and math.isnan(out["viou_se"])
