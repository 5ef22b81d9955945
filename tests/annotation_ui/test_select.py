"""Stage 1 in the browser: click an object, refine, pick the category by type-ahead, accept, finish."""

import io

import numpy as np
import pytest
from PIL import Image as PILImage

from engine.intake.models import Image, ObjectInstance
from engine.intake.services import ingest
from engine.leases.models import Stage, Task, TaskStatus

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def flat_png():
    buffer = io.BytesIO()
    PILImage.fromarray(np.full((400, 400, 3), 128, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_select_an_object_and_finish_the_image(page, annotator, obj, engineer, monkeypatch):
    from engine.candidates import tasks as generation

    queued = []
    monkeypatch.setattr(generation.start_generation, "delay", lambda object_id: queued.append(object_id))
    image = obj.image
    flagged, _ = ingest(image.project, flat_png(), "flat.png", source_dataset="test", user=engineer)
    assert not flagged.quality_ok

    page.login("ann")
    tab = page.tab
    asked = []  # the points each segmentation request carried
    tab.on("request", lambda r: asked.append(r.post_data_json["points"]) if r.url.endswith("/segment/") else None)
    page.goto(f"/select/?project={image.project_id}")
    tab.wait_for_function("window.__select && window.__select.ready")
    assert tab.inner_text("#count") == "1 object in this image"

    box = tab.locator("#img-canvas").bounding_box()
    scale = box["width"] / image.width
    tab.mouse.click(box["x"] + 250 * scale, box["y"] + 160 * scale)  # the astronaut's face
    tab.wait_for_function("document.querySelector('#hint').textContent.startsWith('Proposal')")
    tab.locator("#img-canvas").click(position={"x": 480 * scale, "y": 40 * scale}, modifiers=["Shift"])  # background
    tab.wait_for_function("document.querySelector('#hint').textContent.startsWith('Proposal')")
    tab.locator("#img-canvas").click(position={"x": 20 * scale, "y": 480 * scale}, button="right")  # background
    tab.wait_for_function("document.querySelector('#hint').textContent.startsWith('Proposal')")
    # Each refinement sends every click so far: positive first, then the two negatives (Shift+click, right click).
    assert [[p[2] for p in points] for points in asked] == [[1], [1, 0], [1, 0, 0]]
    assert asked[-1][0][:2] == pytest.approx([250, 160], abs=2) and asked[-1][1][:2] == pytest.approx([480, 40], abs=2)
    tab.keyboard.press("c")
    tab.keyboard.type("astro")  # a synonym, not the name
    tab.wait_for_selector("#suggest li")
    suggested = tab.inner_text("#suggest li.on")
    tab.keyboard.press("Enter")
    tab.keyboard.type("a smiling astronaut in an orange suit")
    tab.keyboard.press("Control+Enter")
    tab.wait_for_function("document.querySelector('#count').textContent === '2 objects in this image'")
    page.screenshot("stage1-accepted")
    assert page.canvas_variance("#img-canvas") > 20

    created = ObjectInstance.objects.exclude(pk=obj.pk).get(image=image)
    assert created.category == "person", suggested
    assert created.description == "a smiling astronaut in an orange suit"
    assert created.selected_by == annotator and created.area > 1000 and created.seconds_spent > 0
    x0, y0, x1, y1 = created.bbox
    assert x0 <= 250 <= x1 and y0 <= 160 <= y1

    tab.keyboard.press("f")
    tab.wait_for_selector("#empty:not([hidden])")  # the flagged image is never served
    task = Task.objects.get(image=image, stage=Stage.SELECT)
    assert task.status == TaskStatus.DONE and task.completed_by == annotator
    assert sorted(queued) == [obj.pk, created.pk]  # every object still at "selected" goes to generation
    assert not Task.objects.filter(image=flagged).exists()
    assert Image.objects.filter(quality_ok=False).count() == 1
    page.screenshot("stage1-empty")
    page.assert_no_js_errors()


def test_flag_an_image_that_cannot_be_annotated(page, annotator, image):
    page.login("ann")
    page.goto(f"/select/?project={image.project_id}")
    tab = page.tab
    tab.wait_for_function("window.__select && window.__select.ready")
    tab.click("#flag-box summary")
    tab.click("#flag")  # no reason yet: the page asks for one
    tab.wait_for_function("document.querySelector('#banner').textContent.includes('Pick why')")
    tab.select_option("#flag-reason", "no_objects")
    tab.click("#flag")
    tab.wait_for_selector("#empty:not([hidden])")
    tab.wait_for_function("document.querySelector('#banner').textContent.includes('Image flagged')")
    image.refresh_from_db()
    assert not image.quality_ok and "no object worth a 3D shape" in image.quality_reason
    task = Task.objects.get(image=image, stage=Stage.SELECT)
    assert task.status == TaskStatus.DONE and task.completed_by == annotator
    page.screenshot("stage1-flagged")
    page.assert_no_js_errors()
