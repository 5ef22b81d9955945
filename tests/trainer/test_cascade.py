"""The cascading-improvements table: a chain of checkpoints scored on the same rows and noise."""

import pytest

from trainer.cascade import cascade, format_cascade, summarize


def result(values):
    return {"rows": [{"viou": v} for v in values]}


def test_summary_averages_seeds_per_row_before_the_standard_error():
    metrics, se = summarize([result([0.2, 0.4]), result([0.4, 0.4])])  # two seeds, two rows
    assert metrics["viou"] == pytest.approx((0.3 + 0.4) / 2)
    assert se["viou"] == pytest.approx(0.05)  # std of [0.3, 0.4] (ddof 1) / sqrt(2)


def test_a_checkpoint_after_itself_steps_by_exactly_zero(tiny_ckpt, tiny_cache):
    report = cascade([("base", str(tiny_ckpt)), ("again", str(tiny_ckpt))], str(tiny_cache), seeds=[0, 1], n=4,
                     steps=4, points=500, emd_points=32, icp=False)
    first, second = report["stages"]
    assert "step" not in first and report["n"] == 4
    assert first["metrics"] == second["metrics"]  # same weights, rows and noise: the same samples
    assert second["step"]["viou"] == 0 and second["step_se"]["viou"] == 0
    assert second["from_first"] == second["step"]
    table = format_cascade(report)
    assert table.splitlines()[0].startswith("stage") and "+0.0000 ± 0.0000" in table


def test_a_stage_steps_from_the_parent_it_names(tiny_ckpt, tiny_cache):
    """A DPO that did not pay its way still has its row; the next SFT steps from the SFT it was trained from."""
    report = cascade([("base", str(tiny_ckpt)), ("sft", str(tiny_ckpt)), ("dpo", str(tiny_ckpt), "sft"),
                      ("next sft", str(tiny_ckpt), "sft")], str(tiny_cache), seeds=[0], n=3, steps=2, points=300,
                     emd_points=16, icp=False)
    assert [s.get("parent") for s in report["stages"]] == [None, "base", "sft", "sft"]
    assert "from  " in format_cascade(report).splitlines()[0]


def test_bad_chains_are_refused(tiny_cache):
    with pytest.raises(ValueError, match="at least one"):
        cascade([], str(tiny_cache))
    with pytest.raises(ValueError, match="at least 2"):
        cascade([("a", "x")], str(tiny_cache), n=1)
    with pytest.raises(ValueError, match="not a stage above"):
        cascade([("a", "x", "later")], str(tiny_cache))
