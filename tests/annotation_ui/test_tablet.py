"""The pages on a 768 px tablet, either way round: the 3D views keep a usable size, the answer buttons
and Log out stay in view; below 700 px the page says it needs a wider window."""

import pytest

from tests.annotation_ui.conftest import ready_set
from tests.annotation_ui.test_align import align_task
from tests.annotation_ui.test_artist import artist_case
from tests.annotation_ui.test_rank import second_object
from tests.annotation_ui.test_rank_rating import in_view_and_on_top

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TABLET = [(768, 1024), (1024, 768)]  # portrait, landscape


def size(tab, selector):
    box = tab.locator(selector).bounding_box()
    return box["width"], box["height"]


def test_stage2_on_a_tablet_either_way_round(page, annotator, obj, glb_meshes):
    ready_set(obj, glb_meshes, 3)
    tab = page.tab
    page.login("ann")
    page.goto(f"/rank/?project={obj.image.project_id}")
    tab.wait_for_function("window.__perf.firstFrame.length > 0")
    for viewport in TABLET:  # the tablet turned, the task kept
        tab.set_viewport_size({"width": viewport[0], "height": viewport[1]})
        tab.wait_for_timeout(300)
        width, height = size(tab, "#pair-canvas")
        assert width >= 700 and height >= 500, f"the 3D view is {width:.0f}x{height:.0f} on a {viewport} tablet"
        for selector in ("#btn-left", "#btn-right", "#btn-equal", ".logout button", "#lease-extend"):
            assert in_view_and_on_top(tab, selector), f"{selector} is hidden on a {viewport} tablet"
        assert page.canvas_variance("#pair-canvas") > 20
        page.screenshot(f"tablet-rank-{viewport[0]}x{viewport[1]}")
    tab.click("#btn-left")  # a tap on Left answers
    tab.wait_for_function("document.querySelector('#progress').textContent === '3 of 3 shown'")
    tab.click("#btn-right")
    tab.wait_for_selector("#rating:not([hidden])")
    tab.keyboard.press("1")
    for viewport in TABLET:
        tab.set_viewport_size({"width": viewport[0], "height": viewport[1]})
        for selector in ("#submit", "#no-match"):
            tab.locator(selector).scroll_into_view_if_needed()
            assert in_view_and_on_top(tab, selector), f"{selector} cannot be reached on a {viewport} tablet"
    page.assert_no_js_errors()


def test_stage1_25_and_3_on_a_tablet_either_way_round(page, annotator, obj, image, glb_meshes):
    from engine.core.roles import ARTIST, grant

    grant(annotator, ARTIST)
    align_task(obj, glb_meshes)
    artist_case(second_object(image, annotator), glb_meshes)
    tab = page.tab
    page.login("ann")
    smallest = {"select": (600, 450), "artist": (500, 450), "align": (600, 450)}
    for stage, canvas, ready in (("select", "#img-canvas", "window.__select && window.__select.ready"),
                                 ("artist", "#best-canvas", "window.__artist && window.__artist.ready"),
                                 ("align", "#scene-canvas", "window.__align && window.__align.ready")):
        page.goto(f"/{stage}/?project={image.project_id}")
        tab.wait_for_function(ready)
        for viewport in TABLET:
            tab.set_viewport_size({"width": viewport[0], "height": viewport[1]})
            tab.wait_for_timeout(200)
            view_w, view_h = size(tab, "#view")
            assert view_w >= smallest[stage][0] and view_h >= smallest[stage][1], \
                f"the {stage} view is {view_w:.0f}x{view_h:.0f} on a {viewport} tablet"
            assert tab.is_visible(canvas)
            assert in_view_and_on_top(tab, ".logout button"), f"Log out is hidden on the {stage} page"
            tab.locator("#submit" if stage != "select" else "#finish").scroll_into_view_if_needed()
            page.screenshot(f"tablet-{stage}-{viewport[0]}x{viewport[1]}")
    page.assert_no_js_errors()


def test_below_700px_the_page_says_it_needs_a_wider_window(page, annotator, obj, glb_meshes):
    ready_set(obj, glb_meshes, 3)
    tab = page.tab
    tab.set_viewport_size({"width": 600, "height": 900})
    page.login("ann")
    assert tab.is_visible(".queues")  # the home page still works
    page.goto(f"/rank/?project={obj.image.project_id}")
    tab.wait_for_selector(".too-narrow", state="visible")
    assert "needs a wider window" in tab.inner_text(".too-narrow") and "700 px" in tab.inner_text(".too-narrow")
    assert tab.is_hidden("#view")
    assert in_view_and_on_top(tab, ".logout button")
    page.screenshot("narrow-600")
    tab.set_viewport_size({"width": 768, "height": 1024})  # turned to a tablet's width: the page is back
    tab.wait_for_selector("#view", state="visible")
    assert tab.is_hidden(".too-narrow")
