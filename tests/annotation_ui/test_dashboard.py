"""The engineers' dashboard in the browser, and who may see it."""

import pytest

from engine.flywheel.models import ModelCheckpoint
from tests.annotation_ui.conftest import ready_set
from tests.annotation_ui.test_stats import rank_all

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_dashboard_shows_the_iteration(page, engineer, annotator, obj, glb_meshes):
    project = obj.image.project
    ready_set(obj, glb_meshes, 4)
    rank_all(annotator, project, ["left", "equal", "right"], level=3)
    ModelCheckpoint.objects.create(name="dpo-1", path="/tmp/dpo-1", stage="dpo",
                                   iteration=project.current_iteration(), metrics={"rewards/accuracies": 0.8})

    page.login("eng")
    tab = page.tab
    assert tab.locator("nav.stages a").all_inner_texts() == [
        "Stage 1 · Select", "Stage 2 · Rank", "Stage 2.5 · Artist", "Stage 3 · Align", "Dashboard"]
    tab.click("nav.stages a[data-stage=dashboard]")
    tab.wait_for_selector("#throughput")
    assert tab.inner_text("#acceptance") == "100%"
    assert "Stage 2: rank candidates\t1" in tab.inner_text("#throughput")
    assert "ann\trank\t1" in tab.inner_text("#annotators")
    assert "dpo-1" in tab.inner_text("#training")
    assert "aligning\t1" in tab.inner_text("#objects")
    tab.wait_for_function("document.querySelector('#ratings-plot').naturalWidth > 0")
    page.screenshot("dashboard")
    assert page.canvas_variance("#ratings-plot") > 20
    page.assert_no_js_errors()


def test_annotators_see_only_annotation_stages(page, annotator, project):
    page.login("ann")
    tab = page.tab
    assert tab.locator("nav.stages a").all_inner_texts() == ["Stage 1 · Select", "Stage 2 · Rank", "Stage 3 · Align"]
    assert tab.locator(".queues a").count() == 3
    page.screenshot("home-annotator")
    response = tab.goto(page.base + "/dashboard/")
    assert response.status == 403
    response = tab.goto(page.base + "/artist/")
    assert response.status == 403
    assert "Not for your role" in tab.inner_text("body")
    page.screenshot("forbidden-artist-page")


def test_login_says_what_went_wrong_and_logout_works(page, annotator):
    page.goto("/rank/")
    assert "/login/" in page.tab.url  # pages need a login
    page.tab.fill("#id_username", "ann")
    page.tab.fill("#id_password", "wrong")
    page.tab.click("button[type=submit]")
    assert "Wrong username or password" in page.tab.inner_text(".login")
    page.screenshot("login-wrong-password")
    page.login("ann")
    page.tab.click(".logout button")
    page.tab.wait_for_url("**/login/")
    page.goto("/")
    assert "/login/" in page.tab.url
