"""The dashboard's flywheel panel: the newest run live, and the button that starts one."""

import pytest

from engine.flywheel import iteration
from engine.flywheel.deploy import promote
from engine.flywheel.models import FlywheelRun, ModelCheckpoint

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_panel_shows_the_run_and_starts_the_next(page, engineer, project, monkeypatch):
    queued = []
    monkeypatch.setattr(iteration, "enqueue", lambda run, background=True: queued.append(run.pk))
    promote(ModelCheckpoint.objects.create(name="base", path="/tmp/base", stage="pretrain"))
    done = FlywheelRun.objects.create(
        project=project, iteration=project.current_iteration(), alpha=0.5, status="done", step="done",
        progress={"stage": "dpo", "step": 40, "steps": 40, "loss": 0.61, "rewards/margins": 0.2,
                  "rewards/accuracies": 0.75},
        metrics_before={"metrics": {"viou": 0.41}}, metrics_after={"metrics": {"viou": 0.45}},
        comparison={"delta": {"viou": 0.04}, "delta_se": {"viou": 0.01},
                    "preference": {"a": {"accuracy": 0.7, "se": 0.05, "n": 60}},
                    "dpo_stage": {"pays": False, "reason": "DPO against SFT: Δviou = -0.02 ± 0.005 (SE) is worse; "
                                                           "DPO did not pay its way, so π_k is the SFT checkpoint"}},
        decision="promoted", reason="Δviou = +0.04 ± 0.01 (SE) (not worse beyond noise); promoted",
        step_seconds={"collect": 1.0, "sft": 12.5})

    page.login("eng")
    page.goto(f"/dashboard/?project={project.pk}")
    panel = page.tab.locator("[data-flywheel]")
    page.tab.wait_for_function(f"document.querySelector('[data-flywheel-run]').innerText.includes('run {done.pk} ')")
    text = panel.inner_text()
    assert "promoted" in text and "rewards/accuracies 0.7500" in text and "sft ✓ 12.5 s" in text
    assert "0.700 ± 0.050 on 60 pairs" in text and "viou" in text
    assert "DPO did not pay its way" in panel.locator("[data-dpo-stage]").inner_text()

    panel.locator("input[name=alpha]").fill("1.5")
    panel.locator("button[type=submit]").click()
    page.tab.wait_for_function("document.querySelector('[data-flywheel-message]').innerText.includes('alpha')")
    assert panel.locator("[data-flywheel-message]").inner_text() == "alpha: Ensure this value is less than or equal to 1.0."
    assert not queued

    panel.locator("input[name=alpha]").fill("0.6")
    panel.locator("input[name=sft_steps]").fill("5")
    panel.locator("button[type=submit]").click()
    page.tab.wait_for_function("document.querySelector('[data-flywheel-message]').innerText.includes('queued')")
    run = FlywheelRun.objects.latest("id")
    assert queued == [run.pk] and run.alpha == 0.6 and run.options["sft_steps"] == 5
    page.tab.wait_for_function(f"document.querySelector('[data-flywheel-run]').innerText.includes('run {run.pk}')")
    page.assert_no_js_errors()
