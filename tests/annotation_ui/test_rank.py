"""Stage 2 in the browser: compare a set of 8 with the keyboard (Equal included), rate, next set."""

import pytest

from engine.artists.models import ArtistCase
from engine.core.models import Project
from engine.intake import masks
from engine.intake.models import ObjectInstance
from engine.leases import services as leases
from engine.leases.models import Skip, Stage, Task, TaskStatus
from engine.ranking.models import Comparison, RankingSession
from tests.annotation_ui.conftest import box_mask, ready_set

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def second_object(image, annotator):
    mask = box_mask(image, 300, 300, 480, 500)
    return ObjectInstance.objects.create(image=image, mask_rle=masks.encode(mask), area=int(mask.sum()),
                                         bbox=masks.bbox(mask), category="chair", selected_by=annotator)


def test_rank_a_set_with_keys_then_the_next_set(page, annotator, obj, image, glb_meshes):
    project = obj.image.project
    Project.objects.filter(pk=project.pk).update(n_candidates=8)
    first = ready_set(obj, glb_meshes, 8)
    second = ready_set(second_object(image, annotator), glb_meshes, 3)
    navigations = []

    page.login("ann")
    page.goto(f"/rank/?project={project.pk}")
    tab = page.tab
    tab.on("framenavigated", lambda frame: navigations.append(frame.url))
    tab.wait_for_function("window.__perf.firstFrame.length > 0")
    assert tab.inner_text("#progress") == "2 of 8 shown"
    tab.keyboard.press("?")  # the shortcuts of the page
    assert tab.is_visible("#help") and "Equal" in tab.inner_text("#help")
    tab.keyboard.press("Escape")
    assert not tab.is_visible("#help")
    # Blind: nothing on the page, nor in the task the page fetched, names a generator.
    assert "gen-" not in tab.content()
    held = Task.objects.get(candidate_set=first, stage=Stage.RANK, lease_owner=annotator)
    assert "gen-" not in tab.evaluate("(id) => fetch(`/api/tasks/${id}/`).then((r) => r.text())", held.pk)

    keys = ["ArrowLeft", "ArrowDown", "ArrowRight", "=", "ArrowLeft", "ArrowRight", "ArrowLeft"]
    for i, key in enumerate(keys):
        tab.keyboard.press(key)
        expected = f"{i + 3} of 8 shown" if i < 6 else "All 8 shown"
        tab.wait_for_function("(t) => document.querySelector('#progress').textContent === t", arg=expected)
        if i < 6:  # the swap is timed when its pair is drawn; a key pressed before that supersedes it untimed
            tab.wait_for_function("(n) => window.__perf.swaps.length >= n", arg=i + 1)
    tab.wait_for_selector("#rating:not([hidden])")
    assert page.canvas_variance("#pair-canvas") > 20, "the survivor's viewport is blank"
    tab.keyboard.press("4")
    page.screenshot("stage2-rating")
    tab.keyboard.press("Enter")

    # The next set loads in place: no page navigation, a new task leased, progress reset.
    tab.wait_for_function("document.querySelector('#progress').textContent === '2 of 3 shown'")
    tab.wait_for_function("window.__perf.firstFrame.length > 1")
    assert navigations == []
    page.screenshot("stage2-pair")
    assert page.canvas_variance("#pair-canvas") > 20, "the pair viewport is blank"

    rows = list(Comparison.objects.filter(session__candidate_set=first).order_by("position"))
    assert [r.answer for r in rows] == ["left", "equal", "right", "equal", "left", "right", "left"]
    for r in rows:
        assert r.kept_id in (r.left_id, r.right_id)
        assert r.tie_break == (r.answer == "equal")
        assert r.annotator == annotator
        if r.answer != "equal":
            assert r.kept_id == (r.left_id if r.answer == "left" else r.right_id)
    shown = {r.left_id for r in rows} | {r.right_id for r in rows}
    assert shown == set(first.candidates.values_list("id", flat=True))
    session = RankingSession.objects.get(candidate_set=first)
    # The page shows the server's random order: the first pair, then each newcomer in turn.
    newcomers = [rows[0].left_id, rows[0].right_id] + [
        ({r.left_id, r.right_id} - {prev.kept_id}).pop() for prev, r in zip(rows, rows[1:])]
    assert newcomers == session.order
    assert session.rating == 1.0 and session.rubric["level"] == 4
    assert Task.objects.get(candidate_set=first, stage=Stage.RANK).status == TaskStatus.DONE
    assert Task.objects.filter(candidate_set=first, stage=Stage.ALIGN).exists()
    assert Task.objects.get(candidate_set=second, stage=Stage.RANK).lease_owner == annotator

    # The second set: two comparisons, then a rating below the bar needs a failure category.
    tab.click("#btn-right")
    tab.wait_for_function("document.querySelector('#progress').textContent === '3 of 3 shown'")
    tab.click("#btn-left")
    tab.wait_for_selector("#rating:not([hidden])")
    tab.keyboard.press("1")
    assert tab.is_disabled("#submit"), "a rating below the bar must ask for the failure category"
    tab.keyboard.press("b")
    tab.keyboard.press("Enter")
    tab.wait_for_selector("#empty:not([hidden])")
    assert "queue is empty" in tab.inner_text("#empty")
    case = ArtistCase.objects.get(candidate_set=second)
    assert case.failure_category == "occlusion" and case.rating == 0.25

    swaps = tab.evaluate("window.__perf.swaps")
    assert len(swaps) >= 6
    page.screenshot("stage2-empty")
    page.assert_no_js_errors()


def test_lease_extend_and_a_clear_message_when_it_expired(page, annotator, obj, glb_meshes):
    from datetime import timedelta

    from django.utils import timezone

    ready_set(obj, glb_meshes, 3)
    page.login("ann")
    page.goto(f"/rank/?project={obj.image.project_id}")
    tab = page.tab
    tab.wait_for_function("window.__perf.firstFrame.length > 0")
    assert tab.is_visible("#lease") and ":" in tab.inner_text("#lease-time")
    assert page.canvas_variance("#pair-canvas") > 20, "the pair viewport is blank"
    assert page.canvas_variance("#ref") > 20, "the image with its mask is blank"

    # A reload resumes the held task where it stood instead of claiming another.
    tab.keyboard.press("ArrowRight")
    tab.wait_for_function("document.querySelector('#progress').textContent === '3 of 3 shown'")
    tab.wait_for_function("window.__perf.compareMs && window.__perf.compareMs.length === 1")
    tab.reload()
    tab.wait_for_function("window.__perf.firstFrame.length > 0")
    assert tab.inner_text("#progress") == "3 of 3 shown"
    assert Comparison.objects.filter(session__task__object=obj).count() == 1

    task = Task.objects.get(object=obj, stage=Stage.RANK)
    Task.objects.filter(pk=task.pk).update(lease_expires_at=timezone.now() + timedelta(seconds=30))
    tab.keyboard.press("x")
    tab.wait_for_function("document.querySelector('#banner').textContent.includes('Lease renewed')")
    task.refresh_from_db()
    assert task.lease_expires_at > timezone.now() + timedelta(minutes=5)

    Task.objects.filter(pk=task.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    tab.keyboard.press("ArrowDown")
    tab.wait_for_function("document.querySelector('#banner').textContent.includes('expired')")
    assert tab.is_visible("#banner button")  # "Next task"
    page.screenshot("stage2-lease-expired")
    page.assert_no_js_errors()


def test_skip_a_set_it_goes_to_someone_else(page, annotator, annotator2, obj, glb_meshes):
    ready_set(obj, glb_meshes, 3)
    page.login("ann")
    page.goto(f"/rank/?project={obj.image.project_id}")
    tab = page.tab
    tab.wait_for_function("window.__perf.firstFrame.length > 0")
    tab.click("#release")
    tab.wait_for_selector("#empty:not([hidden])")
    assert "skipped" in tab.inner_text("#empty") and "Nothing else is waiting" in tab.inner_text("#empty")
    task = Task.objects.get(object=obj, stage=Stage.RANK)
    assert task.status == TaskStatus.OPEN and task.lease_owner is None
    assert Skip.objects.filter(task=task, user=annotator).exists()
    page.screenshot("stage2-skipped")
    tab.click("#retry")  # asking again does not bring the skipped set back
    tab.wait_for_function("document.querySelector('#empty .empty-text').textContent.includes('queue is empty')")
    assert leases.serve(annotator2, obj.image.project_id, Stage.RANK).pk == task.pk  # someone else gets it
    page.assert_no_js_errors()


def test_a_copy_of_a_set_the_annotator_already_ranked_goes_back_to_the_queue(page, annotator, annotator2, obj,
                                                                             glb_meshes):
    from datetime import timedelta

    from django.utils import timezone

    project = obj.image.project
    project.ranking_overlap = 2
    project.save()
    ready_set(obj, glb_meshes, 2)
    first, copy = Task.objects.filter(object=obj, stage=Stage.RANK).order_by("id")
    # The annotator ranked one copy and still holds the other (leased before the claim kept copies apart).
    Task.objects.filter(pk=first.pk).update(status=TaskStatus.DONE, completed_by=annotator)
    Task.objects.filter(pk=copy.pk).update(status=TaskStatus.LEASED, lease_owner=annotator,
                                           lease_expires_at=timezone.now() + timedelta(hours=1))
    page.login("ann")
    page.goto(f"/rank/?project={project.pk}")
    tab = page.tab
    tab.wait_for_selector("#empty:not([hidden])")
    assert "already ranked" in tab.inner_text("#empty") and "Nothing else is waiting" in tab.inner_text("#empty")
    copy.refresh_from_db()
    assert copy.status == TaskStatus.OPEN and copy.lease_owner is None
    assert not RankingSession.objects.filter(task=copy).exists()
    assert leases.serve(annotator2, project.pk, Stage.RANK).pk == copy.pk  # someone else gets it
    page.assert_no_js_errors()


def test_turntable_orbit_wireframe_and_a_prefetched_swap(page, annotator, obj, glb_meshes):
    import io

    import numpy as np
    from PIL import Image

    Project.objects.filter(pk=obj.image.project_id).update(n_candidates=8)
    cset = ready_set(obj, glb_meshes, 8)
    meshes = []
    tab = page.tab
    tab.on("request", lambda r: meshes.append(r.url) if r.url.endswith(".glb") else None)
    page.login("ann")
    page.goto(f"/rank/?project={obj.image.project_id}")
    tab.wait_for_function("window.__perf.firstFrame.length > 0")

    # three.js is the pinned npm package, served by our staticfiles through the import map.
    assert tab.evaluate("import('three').then((m) => m.REVISION)") == "181"
    loaded = tab.evaluate("performance.getEntriesByType('resource').map((e) => e.name)")
    assert page.base + "/static/vendor/three/build/three.module.js" in loaded
    # Prefetch: every candidate of the set is downloaded and parsed before the first answer.
    tab.wait_for_function("window.__rank.parsed() === 8")
    assert len(set(meshes)) == 8 == cset.candidates.count()

    # A slow turntable by default, one camera for both sides.
    assert tab.get_attribute("#btn-turntable", "aria-pressed") == "true"
    a0 = tab.evaluate("window.__rank.azimuth()")
    tab.wait_for_timeout(700)
    assert tab.evaluate("window.__rank.azimuth()") != a0, "the turntable does not turn"
    tab.keyboard.press("t")
    assert tab.get_attribute("#btn-turntable", "aria-pressed") == "false"
    tab.wait_for_timeout(300)

    box = tab.locator("#pair-canvas").bounding_box()
    half = box["width"] / 2
    right = {"x": box["x"] + half + 4, "y": box["y"], "width": half - 8, "height": box["height"]}

    def grey(clip):
        return np.asarray(Image.open(io.BytesIO(tab.screenshot(clip=clip))).convert("L"), dtype=np.float64)

    # Wireframe on and off: the material of both sides, and the picture, change.
    before = grey(right)
    tab.keyboard.press("w")
    tab.wait_for_timeout(300)
    assert tab.evaluate("window.__rank.wireframe()") and tab.get_attribute("#btn-wire", "aria-pressed") == "true"
    assert np.abs(grey(right) - before).mean() > 0.5, "the wireframe toggle did not change the picture"
    tab.click("#btn-wire")
    assert not tab.evaluate("window.__rank.wireframe()")
    tab.wait_for_timeout(300)

    # Dragging the left view orbits both: the right view turns too.
    a1, before = tab.evaluate("window.__rank.azimuth()"), grey(right)
    cy = box["y"] + box["height"] / 2
    tab.mouse.move(box["x"] + half / 2, cy)
    tab.mouse.down()
    tab.mouse.move(box["x"] + half / 2 + 150, cy, steps=10)
    tab.mouse.up()
    tab.wait_for_timeout(600)
    assert abs(tab.evaluate("window.__rank.azimuth()") - a1) > 0.2
    assert np.abs(grey(right) - before).mean() > 0.5, "orbiting the left view did not turn the right one"
    d0 = tab.evaluate("window.__rank.distance()")
    tab.mouse.wheel(0, -400)  # scroll to zoom in, both sides at once
    tab.wait_for_timeout(600)
    assert tab.evaluate("window.__rank.distance()") < 0.9 * d0

    # Every answer, Equal included (the session's draw came with the task), swaps to meshes parsed
    # before the key press, and draws without waiting on the server. (The time, key press to frame,
    # is a figure of test_measurements.py: it depends on the load.)
    for i, key in enumerate(["ArrowLeft", "ArrowDown", "ArrowRight", "=", "ArrowLeft"]):
        tab.keyboard.press(key)
        tab.wait_for_function("(t) => document.querySelector('#progress').textContent === t", arg=f"{i + 3} of 8 shown")
        tab.wait_for_timeout(150)
    swaps = tab.evaluate("window.__perf.swaps")
    assert len(swaps) == 5 and all(s["readyAtPress"] for s in swaps), swaps
    assert len(set(meshes)) == 8, "a swap downloaded a mesh again"
    print("Left/Right swaps, key press to frame (ms):", [round(s["ms"], 1) for s in swaps])
    page.screenshot("stage2-orbit-wireframe")
    assert page.canvas_variance("#pair-canvas") > 20
    page.assert_no_js_errors()
