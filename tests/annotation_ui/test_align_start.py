"""Stage 3 in the browser: the fitted start, a draft that survives a reload, and a page that says when there is
no point cloud."""

import pytest

from engine.alignment import fitting
from engine.alignment.models import Alignment
from engine.leases.models import TaskStatus
from tests.annotation_ui.test_align import align_task, percent, translation

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def open_align(page, project_id):
    page.goto(f"/align/?project={project_id}")
    tab = page.tab
    tab.wait_for_function("window.__align && window.__align.ready")
    tab.wait_for_function("document.querySelector('#iou').textContent.includes('%')")
    tab.wait_for_timeout(250)  # the indicator refreshes at most every 100 ms
    return tab


def test_the_fitted_start_covers_the_mask_and_a_draft_survives_a_reload(page, annotator, obj, glb_meshes):
    task = align_task(obj, glb_meshes)  # with a point cloud: the object 2 m away, a wall at 4 m
    alignment = Alignment.objects.get(task=task)
    fitted = fitting.fit(alignment.pk)
    assert fitted["source"] == "point_cloud+refined"
    page.login("ann")
    tab = open_align(page, obj.image.project_id)
    assert translation(tab) == pytest.approx(fitted["t"], abs=2e-3)
    assert percent(tab.inner_text("#iou")) == pytest.approx(100 * fitted["iou"], abs=5)
    assert "Start fitted to the object's points" in tab.inner_text("#start-note")
    state = tab.evaluate("window.__alignState()")
    assert state["points"] and tab.get_attribute("#btn-points", "aria-pressed") == "true"
    assert not tab.is_disabled("#btn-points") and tab.is_hidden("#no-cloud")

    for _ in range(4):
        tab.keyboard.press("Shift+ArrowRight")  # 10 cm each
    moved = translation(tab)
    assert moved[0] == pytest.approx(fitted["t"][0] + 0.4, abs=2e-3)
    tab.wait_for_function("(id) => window.__alignDraft(id) !== null", arg=task.pk)
    page.goto(f"/align/?project={obj.image.project_id}")  # a reload: the task comes back with the draft
    tab.wait_for_function("window.__align && window.__align.ready")
    assert tab.evaluate("window.__align.taskId") == task.pk
    assert translation(tab) == pytest.approx(moved, abs=1e-3)
    assert "unsubmitted pose" in tab.inner_text("#start-note")
    tab.keyboard.press("Control+z")  # the undo steps came back with it
    assert translation(tab)[0] == pytest.approx(moved[0] - 0.1, abs=2e-3)
    page.screenshot("stage3-draft-restored")

    tab.keyboard.press("Enter")
    tab.wait_for_selector("#empty:not([hidden])")
    task.refresh_from_db()
    assert task.status == TaskStatus.DONE
    assert tab.evaluate(f"window.__alignDraft({task.pk})") is None  # a submitted pose leaves no draft
    page.assert_no_js_errors()


def test_without_a_point_cloud_the_page_says_so_and_the_points_toggle_is_off(page, annotator, obj, glb_meshes):
    task = align_task(obj, glb_meshes)
    obj.image.point_cloud.delete(save=True)
    fitted = fitting.fit(Alignment.objects.get(task=task).pk)
    assert fitted["source"] == "mask+refined"
    page.login("ann")
    tab = open_align(page, obj.image.project_id)
    assert "Start fitted to the object's mask" in tab.inner_text("#start-note")
    assert tab.is_visible("#no-cloud") and "no point cloud" in tab.inner_text("#no-cloud")
    assert tab.is_disabled("#btn-points") and tab.get_attribute("#btn-points", "aria-pressed") == "false"
    tab.keyboard.press("p")  # the key explains itself instead of doing nothing
    tab.wait_for_function("document.querySelector('#banner').textContent.includes('has no point cloud')")
    assert tab.evaluate("window.__alignState().points") is False
    tab.click("button[data-view=side]")
    assert "no point cloud" in tab.inner_text("#viewname")
    page.screenshot("stage3-no-point-cloud")
    page.assert_no_js_errors()
