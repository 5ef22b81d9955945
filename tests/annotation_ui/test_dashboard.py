"""The engineers' dashboard in the browser, and who may see it."""

import pytest

from engine.flywheel.models import ModelCheckpoint
from engine.intake.models import ObjectInstance
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
    assert "\t1\t1\t100%" in tab.inner_text("#yield")  # the one rated set's winner
    assert tab.locator("#ratings-generator tr").count() >= 3  # a header, and every generator that played
    assert "no comparisons between two checkpoints" in tab.inner_text("#ratings-checkpoint")
    assert "empty" in tab.inner_text("#artist-queue")  # rated above the bar: nothing for the artists
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


def test_dashboard_refreshes_itself_with_the_live_status(page, engineer, annotator, obj, image, glb_meshes):
    from engine.leases import services as leases
    from tests.annotation_ui.test_rank import second_object

    project = obj.image.project
    ready_set(obj, glb_meshes, 3)
    rank_all(annotator, project, ["left", "right"], level=3)
    ready_set(second_object(image, annotator), glb_meshes, 3)
    navigations = []

    page.login("eng")
    tab = page.tab
    page.goto(f"/dashboard/?project={project.pk}&refresh=1")
    tab.on("framenavigated", lambda frame: navigations.append(frame.url))
    assert tab.inner_text("#people").startswith("0 people")
    assert "Stage 2: rank candidates\t1\t" in tab.inner_text("#throughput")

    # Work happens elsewhere: someone takes a set and finishes it, someone else holds one.
    rank_all(annotator, project, ["equal", "left"], level=4)
    ready_set(ObjectInstance.objects.create(image=image, mask_rle=obj.mask_rle, area=obj.area, bbox=obj.bbox,
                                            category="mug"), glb_meshes, 2)
    leases.claim(annotator, project.pk, "rank")
    tab.wait_for_function("document.querySelector('#people').textContent.startsWith('1 person')", timeout=15_000)
    tab.wait_for_function(
        "document.querySelector('#throughput').innerText.includes('Stage 2: rank candidates\\t2\\t')", timeout=15_000)
    assert "Stage 2: rank candidates\t1\t" in tab.inner_text("#live")  # one set in progress now
    assert "live · updated" in tab.inner_text("#updated")
    assert navigations == [], "the dashboard reloaded the page instead of refreshing in place"
    assert tab.evaluate("window.__dashboard.refreshes") >= 1
    page.screenshot("dashboard-live")
    page.assert_no_js_errors()
