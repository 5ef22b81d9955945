"""Stage 1's tools in the browser: a box, negative clicks that take a region out, the brush, undo and redo,
masks that cannot be objects, F with nothing selected, and the way to Other."""

import io
import json

import numpy as np
import pytest
from PIL import Image as PILImage

from engine.intake.masks import decode
from engine.intake.models import ObjectInstance
from engine.intake.services import ingest
from engine.leases.models import Stage, Task, TaskStatus
from tests.engine.intake.test_segment import scene

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


S = 2  # the scene at twice its size: the intake refuses images under 256 pixels a side


@pytest.fixture
def scene_image(project, engineer):
    rgb, disc, square = (np.repeat(np.repeat(a, S, axis=0), S, axis=1) for a in scene())
    buffer = io.BytesIO()
    PILImage.fromarray(rgb).save(buffer, format="PNG")
    image, _ = ingest(project, buffer.getvalue(), "scene.png", source_dataset="test", user=engineer)
    return image, disc, square


def open_select(page, image):
    page.login("ann")
    tab = page.tab
    answers = []  # every segmentation answer, in order
    tab.on("response", lambda r: answers.append(r.json()) if r.url.endswith("/segment/") and r.ok else None)
    page.goto(f"/select/?project={image.project_id}")
    tab.wait_for_function("window.__select && window.__select.ready")
    box = tab.locator("#img-canvas").bounding_box()
    scale = box["width"] / image.width  # `at` takes the scene's own coordinates (before S)
    return tab, answers, (lambda x, y: (box["x"] + S * x * scale, box["y"] + S * y * scale))


def wait_answer(tab, answers, n):
    tab.wait_for_function("(n) => (window.__perf.segmentMs || []).length >= n", arg=n)
    tab.wait_for_timeout(50)
    assert len(answers) >= n
    return decode(answers[-1]["mask"])


def drag(tab, at, start, end, **keys):
    tab.mouse.move(*at(*start))
    tab.mouse.down(**keys)
    tab.mouse.move(*at((start[0] + end[0]) / 2, (start[1] + end[1]) / 2), steps=4)
    tab.mouse.move(*at(*end), steps=4)
    tab.mouse.up(**keys)


def test_box_negative_click_brush_undo_and_redo(page, annotator, scene_image):
    image, disc, square = scene_image
    tab, answers, at = open_select(page, image)

    drag(tab, at, (50, 50), (300, 180))  # a box around the object and the blue square
    both = wait_answer(tab, answers, 1)
    assert (both & square).sum() > 0.5 * square.sum() and (both & disc).sum() > 0.9 * disc.sum()

    tab.keyboard.down("Shift")  # a negative click inside the square, which is wrongly in the mask
    tab.mouse.click(*at(250, 100))
    tab.keyboard.up("Shift")
    fixed = wait_answer(tab, answers, 2)
    assert (fixed & square).sum() < 0.05 * square.sum(), "Shift+click inside the wrong region left it in the mask"
    assert (fixed & disc).sum() > 0.9 * disc.sum()

    tab.keyboard.press("b")  # brush: paint a stroke into the mask, over the background
    assert tab.get_attribute("#tool-brush", "aria-pressed") == "true"
    drag(tab, at, (20, 220), (200, 220))
    painted = wait_answer(tab, answers, 3)
    assert painted[S * 220, S * 100] and painted.sum() > fixed.sum()
    tab.keyboard.press("e")  # eraser: a cut through the disc
    drag(tab, at, (110, 75), (110, 165))
    erased = wait_answer(tab, answers, 4)
    assert not erased[S * 120, S * 110] and erased[S * 120, S * 80]

    prompt = lambda: tab.evaluate("window.__prompt.counts()")  # noqa: E731
    assert prompt() == {"points": 1, "boxes": 1, "strokes": 2}
    tab.keyboard.press("Control+z")  # undo the eraser stroke: the mask is the painted one again
    assert np.array_equal(wait_answer(tab, answers, 5), painted)
    tab.keyboard.press("Control+z")  # the painted stroke
    assert np.array_equal(wait_answer(tab, answers, 6), fixed)
    tab.keyboard.press("Control+z")  # and the negative click: the square is back
    back = wait_answer(tab, answers, 7)
    assert (back & square).sum() > 0.5 * square.sum() and prompt() == {"points": 0, "boxes": 1, "strokes": 0}
    tab.keyboard.press("Control+y")  # redo the negative click
    assert np.array_equal(wait_answer(tab, answers, 8), fixed)
    assert all(a["segmenter"] == "builtin" for a in answers)
    page.screenshot("stage1-box-negative-brush")

    tab.keyboard.press("c")
    tab.keyboard.type("red disc")  # no such category: the list says that Other exists
    tab.wait_for_selector("#suggest li.hint-other")
    assert "Other" in tab.inner_text("#suggest li.hint-other")
    tab.keyboard.press("Enter")
    assert tab.input_value("#category") == "Other"
    tab.keyboard.type("a red disc")
    tab.keyboard.press("Control+Enter")
    tab.wait_for_function("document.querySelector('#count').textContent.startsWith('1 object')")
    created = ObjectInstance.objects.get(image=image)
    assert created.category == "other" and created.description == "a red disc"
    assert (decode(created.mask_rle) & square).sum() < 0.05 * square.sum()
    page.assert_no_js_errors()


def test_a_mask_that_fills_the_image_is_refused_and_f_with_nothing_asks(page, annotator, scene_image):
    image, _, _ = scene_image
    full = np.ones((image.height, image.width), bool)
    from engine.intake.masks import encode

    tab = page.tab

    def whole_image(route):  # a segmenter gone wrong: everything is the object
        route.fulfill(status=200, content_type="application/json", body=json.dumps({
            "mask": encode(full), "area": int(full.sum()), "area_fraction": 1.0, "bbox": [0, 0, image.width, image.height],
            "segmenter": "builtin", "warning": "The mask covers 100.0 % of the image; an object rarely fills 95 % of it."}))

    tab.route("**/segment/", whole_image)
    _, answers, at = open_select(page, image)
    tab.mouse.click(*at(110, 120))
    tab.wait_for_function("document.querySelector('#hint').textContent.startsWith('The mask covers 100.0 %')")
    tab.keyboard.press("c")
    tab.keyboard.type("chair")
    tab.keyboard.press("Enter")
    tab.keyboard.press("Control+Enter")
    tab.wait_for_function("document.querySelector('#banner').textContent.includes('of the image; an object rarely fills')")
    assert not ObjectInstance.objects.filter(image=image).exists()  # the server refused it
    tab.wait_for_function("!document.querySelector('#accept').disabled")  # every accept has its answer
    tab.evaluate("document.activeElement.blur()")
    tab.keyboard.press("Escape")

    tab.keyboard.press("f")  # nothing selected: the page asks instead of finishing
    tab.wait_for_function("document.querySelector('#banner').textContent.startsWith('No object is selected')")
    task = Task.objects.get(image=image, stage=Stage.SELECT)
    assert task.status == TaskStatus.LEASED
    tab.click("#banner button:has-text('Keep working')")
    assert Task.objects.get(pk=task.pk).status == TaskStatus.LEASED
    tab.keyboard.press("f")
    tab.click("#banner button:has-text('Finish with no object')")
    tab.wait_for_selector("#empty:not([hidden])")
    assert Task.objects.get(pk=task.pk).status == TaskStatus.DONE
    page.assert_no_js_errors()
