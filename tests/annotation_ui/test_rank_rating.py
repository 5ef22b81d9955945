"""Stage 2's rating step in the browser: it fits a 900 px-high window, every refused key says why, and
"none of these is this object" sends the set to the artists; a confirmation follows the submit."""

import pytest

from engine.artists.models import ArtistCase
from tests.annotation_ui.conftest import ready_set

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def said(tab, text):
    """Wait until the toast says `text` (a confirmation, or why a key press did nothing)."""
    tab.wait_for_function("(t) => { const el = document.querySelector('#toast'); return el && !el.hidden && "
                          "el.textContent.includes(t); }", arg=text)


def in_view_and_on_top(tab, selector):
    """True when the element lies inside the window and nothing covers its centre."""
    return tab.evaluate("""(sel) => {
      const el = document.querySelector(sel), r = el.getBoundingClientRect();
      if (r.top < 0 || r.left < 0 || r.bottom > innerHeight || r.right > innerWidth || !r.width) return false;
      const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
      return hit === el || el.contains(hit);
    }""", selector)


def test_the_rating_form_fits_900px_and_refused_keys_explain_themselves(page, annotator, obj, glb_meshes):
    ready_set(obj, glb_meshes, 3)
    tab = page.tab
    tab.set_viewport_size({"width": 1280, "height": 900})
    page.login("ann")
    page.goto(f"/rank/?project={obj.image.project_id}")
    tab.wait_for_function("window.__perf.firstFrame.length > 0")

    tab.keyboard.press("3")  # a rating during the comparisons
    said(tab, "Rate after the comparisons: 2 more to answer")
    tab.keyboard.press("Enter")
    said(tab, "Rate after the comparisons")
    tab.keyboard.press("ArrowLeft")
    tab.wait_for_function("document.querySelector('#progress').textContent === '3 of 3 shown'")
    tab.keyboard.press("ArrowRight")
    tab.wait_for_selector("#rating:not([hidden])")

    tab.keyboard.press("ArrowLeft")  # a comparison after the last one
    said(tab, "The comparisons are done")
    tab.keyboard.press("Enter")  # no rating yet
    said(tab, "Pick a rating (0–4) before submitting")
    tab.keyboard.press("b")  # a reason before a rating
    said(tab, "Pick the rating first")
    tab.keyboard.press("4")
    tab.keyboard.press("b")  # a reason for a rating that meets the bar
    said(tab, "meets the bar")
    tab.keyboard.press("1")  # below the bar: the reasons show
    tab.wait_for_selector("#failure:not([hidden])")
    assert tab.is_disabled("#submit")
    tab.keyboard.press("Enter")  # Enter without a failure category
    said(tab, "pick why (A–E) before submitting")
    page.screenshot("stage2-rating-900")
    for selector in ("#submit", "#no-match", "#failure-list button:last-child", "#rubric button:first-child"):
        assert in_view_and_on_top(tab, selector), f"{selector} is not visible in a 1280x900 window"
    assert ArtistCase.objects.count() == 0
    page.assert_no_js_errors()


def test_none_of_these_sends_the_set_to_the_artists_and_the_empty_queue_clears_the_panel(page, annotator, obj,
                                                                                       glb_meshes):
    cset = ready_set(obj, glb_meshes, 2)
    tab = page.tab
    page.login("ann")
    page.goto(f"/rank/?project={obj.image.project_id}")
    tab.wait_for_function("window.__perf.firstFrame.length > 0")
    tab.keyboard.press("ArrowLeft")
    tab.wait_for_selector("#rating:not([hidden])")
    assert "None of these is this object" in tab.inner_text("#no-match")
    tab.keyboard.press("n")
    assert tab.get_attribute("#no-match", "class").split().count("active") == 1
    assert tab.is_hidden("#failure") and tab.is_enabled("#submit")
    tab.keyboard.press("Enter")
    said(tab, "none of these is the object. The set goes to the artists")
    tab.wait_for_selector("#empty:not([hidden])")
    case = ArtistCase.objects.get(candidate_set=cset)
    assert case.failure_category == "no_match" and case.rating == 0.0

    # The empty queue leaves nothing of the last set in the side panel, and keys say why they do nothing.
    assert tab.is_visible(".side-idle")
    for selector in ("#ref", "#progress", "#rating", "#release", "#btn-turntable"):
        assert tab.is_hidden(selector), f"{selector} still shows after the queue emptied"
    tab.keyboard.press("ArrowRight")
    said(tab, "No set is open")
    page.screenshot("stage2-empty-panel")
    page.assert_no_js_errors()
