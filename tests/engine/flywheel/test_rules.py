"""The promotion rule: better beyond noise on the held-out metric or preference accuracy, worse on neither."""

import pytest

from engine.core.models import Project
from engine.flywheel.rules import decide, not_worse, wilson_lower, wilson_upper


def comparison(delta, se, accuracy=0.7, metric="viou", higher=True, pairs=40):
    pref = None if accuracy is None else {"a": {"accuracy": accuracy, "se": 0.05, "n": pairs}, "b": None}
    return {"delta": {metric: delta}, "delta_se": {metric: se}, "metric_directions": {metric: higher},
            "preference": pref}


@pytest.fixture
def project():
    return Project(name="rule")  # unsaved: the rule reads only its settings


def test_better_or_within_noise_with_preference_above_half_promotes(project):
    assert decide(project, comparison(+0.02, 0.01)).promote
    within = decide(project, comparison(-0.019, 0.01))           # -1.9 SE: noise
    assert within.promote and "promoted" in within.reason


def test_worse_beyond_two_standard_errors_keeps_the_deployed_one(project):
    kept = decide(project, comparison(-0.021, 0.01))
    assert not kept.promote and "worse than −2 SE" in kept.reason and "Δviou = -0.021" in kept.reason


def test_a_change_below_the_tolerance_is_no_change_however_tight_its_se(project):
    assert decide(project, comparison(-4e-6, 1.7e-6)).promote      # seen on the tiny preset: sampler dust
    project.promote_tolerance = 0.0
    assert not decide(project, comparison(-4e-6, 1.7e-6)).promote


def test_preference_accuracy_must_be_above_the_bar(project):
    assert not decide(project, comparison(0.01, 0.01, accuracy=0.5)).promote   # exactly 0.5 is not above
    missing = decide(project, comparison(0.01, 0.01, accuracy=None))
    assert not missing.promote and "no held-out preference accuracy" in missing.reason
    # Without held-out pairs a gain beyond noise on the metric still promotes, and says what it lacked.
    gained = decide(project, comparison(0.05, 0.01, accuracy=None))
    assert gained.promote and "no held-out preference accuracy" in gained.reason


def test_a_clear_metric_gain_promotes_unless_the_preferences_are_worse_beyond_noise(project):
    """The effnet demo's iteration 1 (session 16): +0.112 ± 0.018 vIoU with 7 of 12 held-out pairs."""
    gain = decide(project, comparison(0.1124, 0.0177, accuracy=7 / 12, pairs=12))
    assert gain.promote and "better beyond noise" in gain.reason and "not below 0.5" in gain.reason
    # Two of twelve: π_k prefers what people rejected, whatever the metric says.
    backwards = decide(project, comparison(0.1124, 0.0177, accuracy=2 / 12, pairs=12))
    assert not backwards.promote and "prefers what people rejected" in backwards.reason
    # A gain inside z·SE is no evidence by itself: it needs the preferences above the bar beyond noise.
    assert not decide(project, comparison(0.016, 0.01, accuracy=7 / 12, pairs=12)).promote
    assert decide(project, comparison(0.017, 0.01, accuracy=7 / 12, pairs=12)).promote


def test_preference_accuracy_must_clear_the_bar_beyond_noise(project):
    assert not decide(project, comparison(0.01, 0.01, accuracy=1.0, pairs=2)).promote   # 2 of 2 is no evidence
    assert not decide(project, comparison(0.01, 0.01, accuracy=0.6, pairs=20)).promote  # L = 0.42
    kept = decide(project, comparison(0.01, 0.01, accuracy=1.0, pairs=1))
    assert "not above 0.5 beyond noise either" in kept.reason and "95 % bounds" in kept.reason
    assert decide(project, comparison(0.01, 0.01, accuracy=1.0, pairs=3)).promote
    assert decide(project, comparison(0.01, 0.01, accuracy=0.9, pairs=10)).promote


def test_wilson_lower_bound_matches_its_closed_form():
    assert wilson_lower(1.0, 2) == pytest.approx(0.425, abs=1e-3)
    assert wilson_lower(0.9, 10) == pytest.approx(0.652, abs=1e-3)
    assert wilson_lower(0.5, 0) == 0.0
    assert wilson_lower(0.5, 1000) < 0.5 < wilson_lower(0.6, 1000)
    assert wilson_upper(0.0, 2) == pytest.approx(1 - 0.425, abs=1e-3) and wilson_upper(0.5, 0) == 1.0


def test_a_lower_is_better_metric_reads_the_other_way(project):
    project.promote_metric = "chamfer"
    assert decide(project, comparison(-0.05, 0.01, metric="chamfer", higher=False)).promote
    assert not decide(project, comparison(+0.05, 0.01, metric="chamfer", higher=False)).promote


def test_the_projects_settings_move_the_bars(project):
    project.promote_max_drop_se, project.promote_min_preference, project.promote_tolerance = 0.0, 0.8, 0.0
    assert not decide(project, comparison(-0.001, 0.01)).promote
    assert not decide(project, comparison(0.01, 0.01, accuracy=0.75)).promote
    assert decide(project, comparison(0.0, 0.01, accuracy=0.95)).promote


def test_a_stage_pays_its_way_by_the_rules_first_half(project):
    """DPO against SFT: the same bound decides whether DPO's checkpoint or SFT's becomes π_k."""
    assert not_worse(project, comparison(-0.019, 0.01, accuracy=None)) == (True, "Δviou = -0.019 ± 0.01 (SE)")
    ok, why = not_worse(project, comparison(-0.0083, 0.0039, accuracy=None))   # the demo's DPO, session 14
    assert ok is False and "worse than −2 SE" in why
    assert not_worse(project, {"delta": {}})[0] is None
    project.promote_metric = "chamfer"                                         # lower is better
    assert not_worse(project, comparison(0.3, 0.01, metric="chamfer", higher=False))[0] is False
