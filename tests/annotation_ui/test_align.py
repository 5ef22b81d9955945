"""Stage 3 in the browser: move the mesh with the keys, undo, rotate, scale, submit the pose."""

import math

import numpy as np
import pytest
from django.core.files.base import ContentFile

from engine.alignment.models import Alignment
from engine.leases import services as leases
from engine.leases.models import Stage, TaskStatus
from engine.records.models import TrainingSample
from tests.annotation_ui.conftest import ready_set

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def synthetic_cloud(image, obj, n_side=120):
    """Back-project a pixel grid: a wall 4 m away, the object's pixels 2 m away (float32 xyz, camera frame)."""
    w, h = image.width, image.height
    f = w / (2 * 0.5773502692)
    us, vs = np.meshgrid(np.linspace(0, w - 1, n_side), np.linspace(0, h - 1, n_side))
    x0, y0, x1, y1 = obj.bbox
    inside = (us >= x0) & (us < x1) & (vs >= y0) & (vs < y1)
    z = np.where(inside, 2.0, 4.0)
    xyz = np.stack([(us - w / 2) * z / f, (vs - h / 2) * z / f, z], axis=-1).reshape(-1, 3)
    return xyz.astype("<f4").tobytes()


def translation(tab):
    """Return the pose's translation as the page's readout shows it."""
    return [float(v) for v in tab.inner_text("#readout").splitlines()[0].split()[1:]]


def percent(text):
    return float(text.removeprefix("IoU ").removesuffix("%"))


def align_task(obj, meshes, cloud_side=120):
    cset = ready_set(obj, meshes, 2)
    image = obj.image
    image.point_cloud.save("cloud.bin", ContentFile(synthetic_cloud(image, obj, cloud_side)))
    task = leases.create(image.project, Stage.ALIGN, image=image, object=obj, candidate_set=cset)
    Alignment.objects.create(task=task, candidate=cset.candidates.first(), rating=0.75)
    return task


def test_align_move_undo_rotate_scale_and_submit(page, annotator, obj, glb_meshes):
    task = align_task(obj, glb_meshes)
    page.login("ann")
    page.goto(f"/align/?project={obj.image.project_id}")
    tab = page.tab
    tab.wait_for_function("window.__align && window.__align.ready")
    tab.wait_for_function("document.querySelector('#iou').textContent.includes('%')")

    # Drag the gizmo's centre handle with the mouse: the mesh moves in the image plane; undo puts it back.
    start = tab.inner_text("#readout")
    box = tab.locator("#scene-canvas").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2  # t = (0, 0, 2) projects to the centre
    tab.mouse.move(cx, cy)
    tab.mouse.down()
    tab.mouse.move(cx + 30, cy + 10, steps=5)
    tab.mouse.move(cx + 60, cy + 20, steps=5)
    tab.mouse.up()
    assert tab.inner_text("#readout") != start, "dragging the gizmo did not move the mesh"
    assert tab.is_enabled("#btn-undo")
    tab.click("#btn-undo")
    assert tab.inner_text("#readout") == start

    # The mesh-IoU indicator is live: moving the mesh off the mask lowers it, undoing restores it.
    tab.wait_for_timeout(300)  # the indicator refreshes at most every 100 ms
    iou0 = tab.inner_text("#iou")
    for _ in range(3):
        tab.keyboard.press("Shift+ArrowRight")  # coarse: 10 cm each
    tab.wait_for_function("(t) => document.querySelector('#iou').textContent !== t", arg=iou0)
    tab.wait_for_timeout(250)
    assert percent(tab.inner_text("#iou")) < percent(iou0) - 5, (iou0, tab.inner_text("#iou"))
    for _ in range(3):
        tab.keyboard.press("Control+z")
    tab.wait_for_function("(t) => document.querySelector('#iou').textContent === t", arg=iou0)
    assert tab.inner_text("#readout") == start

    for _ in range(3):
        tab.keyboard.press("ArrowRight")  # +1 cm in x each
    assert translation(tab) == pytest.approx([0.03, 0.0, 2.0], abs=1e-3)
    tab.keyboard.press("Shift+ArrowUp")  # coarse: 10 cm up (y is down in camera axes)
    assert translation(tab) == pytest.approx([0.03, -0.1, 2.0], abs=1e-3)
    tab.keyboard.press("Control+z")
    assert translation(tab) == pytest.approx([0.03, 0.0, 2.0], abs=1e-3)
    tab.keyboard.press("Control+y")  # redo, then undo again
    assert translation(tab) == pytest.approx([0.03, -0.1, 2.0], abs=1e-3)
    tab.click("#btn-undo")
    assert tab.is_enabled("#btn-redo")
    tab.keyboard.press("Alt+ArrowRight")  # fine: 1 mm
    assert translation(tab) == pytest.approx([0.031, 0.0, 2.0], abs=1e-4)
    assert tab.is_disabled("#btn-redo"), "a new move must clear the redo history"
    tab.click("button[data-mode=rotate]")
    tab.keyboard.press("Shift+ArrowRight")  # 10° about the camera's vertical axis
    tab.keyboard.press("r")  # scale mode
    tab.keyboard.press("ArrowUp")  # +1 %

    # Every tool of the published tool changes what it says it changes.
    state = lambda: tab.evaluate("window.__alignState()")  # noqa: E731
    for view in ("front", "side", "top"):
        tab.click(f"button[data-view={view}]")
        assert state()["view"] == view and state()["camera"] == "orbit"
    assert not state()["overlay"]  # the mask outline belongs to the camera view
    for button, key in (("#btn-mesh", "mesh"), ("#btn-target", "target"), ("#btn-gizmo", "gizmo"), ("#btn-points", "points")):
        tab.click(button)
        assert state()[key] is False and tab.get_attribute(button, "aria-pressed") == "false", key
        tab.click(button)
        assert state()[key] is True, key
    size = state()["pointSize"]
    tab.click("#btn-larger")
    assert state()["pointSize"] == pytest.approx(size * 1.4)
    tab.keyboard.press("[")
    assert state()["pointSize"] == pytest.approx(size)
    tab.click("#btn-larger")
    page.screenshot("stage3-top-view")
    assert page.canvas_variance("#scene-canvas") > 20, "the top view is blank"
    tab.keyboard.press("0")  # reset: back to the camera view
    assert state()["view"] == "camera" and state()["camera"] == "image" and state()["overlay"]
    tab.wait_for_timeout(300)
    page.screenshot("stage3-camera-view")
    assert page.canvas_variance("#scene-canvas") > 20, "the camera view is blank"
    iou = tab.inner_text("#iou")
    assert iou.startswith("IoU ") and iou.endswith("%")
    tab.keyboard.press("Enter")
    tab.wait_for_selector("#empty:not([hidden])")

    alignment = Alignment.objects.get(task=task)
    assert alignment.translation == pytest.approx([0.031, 0.0, 2.0], abs=1e-5)
    assert alignment.scale == pytest.approx(1.01, abs=1e-5)
    w, x, y, z = alignment.rotation
    assert math.degrees(2 * math.acos(min(1.0, abs(w)))) == pytest.approx(10.0, abs=1e-3)
    assert abs(y) == pytest.approx(math.sin(math.radians(5)), abs=1e-5) and x == pytest.approx(0) and z == pytest.approx(0)
    assert alignment.aligned_by == annotator and alignment.seconds > 0
    task.refresh_from_db()
    assert task.status == TaskStatus.DONE
    assert TrainingSample.objects.filter(alignment=alignment).exists()
    page.assert_no_js_errors()
