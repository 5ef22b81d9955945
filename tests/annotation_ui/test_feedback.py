"""Feedback on every wait and every submit: Stage 1's finish answers at once and the page follows the
candidates made in the background; Stage 2.5 and 3 submits are confirmed; an empty queue clears the
side panel; the home page counts what this user can take."""

import threading

import pytest
import trimesh

from engine.candidates import tasks as candidate_tasks
from engine.core import background
from engine.intake.models import ObjectStatus
from engine.leases import services as leases
from engine.leases.models import Stage, Task, TaskStatus
from tests.annotation_ui.test_align import align_task
from tests.annotation_ui.test_artist import artist_case
from tests.annotation_ui.test_rank_rating import said
from tests.engine.simulation.conftest import FAST_GENERATORS, fast_suite, shape_library  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def side_panel_is_cleared(tab, *gone):
    assert tab.is_visible(".side-idle"), "the side panel does not say that no task is open"
    for selector in gone:
        assert tab.is_hidden(selector), f"{selector} of the last task still shows with the queue empty"


def test_finishing_an_image_answers_at_once_and_the_panel_follows_its_candidates(
        page, settings, fast_suite, annotator, obj, monkeypatch):  # noqa: F811
    settings.ENGINE = {**settings.ENGINE, "BACKGROUND_THREADS": 1}  # the embedded server's background thread
    project = obj.image.project
    project.generators = FAST_GENERATORS
    project.save()
    gate, real = threading.Event(), candidate_tasks.start
    monkeypatch.setattr(candidate_tasks, "start", lambda object_id: gate.wait(60) and real(object_id))
    try:
        page.login("ann")
        tab = page.tab
        page.goto(f"/select/?project={project.pk}")
        tab.wait_for_function("window.__select && window.__select.ready")
        tab.keyboard.press("f")
        said(tab, "Image done: 1 new object sent to candidate generation")
        # The answer came while generation is still held: the page is on, and says the candidates are on their way.
        tab.wait_for_selector("#empty:not([hidden])")
        row = f"#generation li[data-object='{obj.pk}']"
        tab.wait_for_selector(row)
        assert tab.get_attribute(row, "data-status") == "generating" and tab.is_visible(f"{row} .spinner")
        assert "in candidate generation" in tab.inner_text("#generation")
        assert Task.objects.get(image=obj.image, stage=Stage.SELECT).status == TaskStatus.DONE
        obj.refresh_from_db()
        assert obj.status == ObjectStatus.GENERATING and not obj.candidate_sets.exists()
        side_panel_is_cleared(tab, "#finish", "#accept", "#count", "#release")
        assert tab.is_visible("#generation"), "the generation panel went with the task"
        page.screenshot("stage1-generating")
        gate.set()
        tab.wait_for_selector(f"{row}[data-status='ranking']", timeout=60_000)
        assert "4 candidates ready: in Stage 2" in tab.inner_text(row)
        assert "finished" in tab.inner_text("#generation .generation-summary")
        tab.reload()  # the panel survives a reload
        tab.wait_for_selector(f"{row}[data-status='ranking']")
        page.screenshot("stage1-candidates-ready")
    finally:
        gate.set()
        assert background.wait(120)
    page.assert_no_js_errors()


def test_artist_and_alignment_submits_are_confirmed_and_the_empty_queue_clears_the_panel(
        page, artist, annotator, obj, glb_meshes, tmp_path):
    case = artist_case(obj, glb_meshes)
    tab = page.tab
    page.login("art")
    page.goto(f"/artist/?project={obj.image.project_id}")
    tab.wait_for_function("window.__artist && window.__artist.ready")
    good = tmp_path / "torus.obj"
    good.write_bytes(trimesh.creation.torus(major_radius=0.5, minor_radius=0.15).export(file_type="obj").encode())
    tab.set_input_files("#file", str(good))
    tab.wait_for_function("window.__artist.uploaded")
    tab.keyboard.press("Enter")
    said(tab, "Mesh submitted: the case goes on to pose alignment")
    tab.wait_for_selector("#empty:not([hidden])")
    side_panel_is_cleared(tab, "#submit", "#drop", "#bundle", "#ref", "#release")
    assert tab.is_visible("#groups"), "the reasons to pick from went with the task"
    assert Task.objects.get(pk=case.task_id).status == TaskStatus.DONE

    tab.click(".logout button")
    page.login("ann")
    align = Task.objects.get(object=obj, stage=Stage.ALIGN)
    page.goto(f"/align/?project={obj.image.project_id}")
    tab.wait_for_function("window.__align && window.__align.ready")
    tab.keyboard.press("ArrowLeft")  # a nudge: the pose as the annotator placed it
    tab.keyboard.press("Enter")
    said(tab, "Pose submitted (mask IoU")
    tab.wait_for_selector("#empty:not([hidden])")
    side_panel_is_cleared(tab, "#submit", "#readout", "#ref", "#release")
    assert Task.objects.get(pk=align.pk).status == TaskStatus.DONE
    page.screenshot("stage3-submitted-empty")
    page.assert_no_js_errors()


def test_home_counts_what_the_user_can_take(page, annotator, annotator2, obj, glb_meshes):
    project = obj.image.project
    align_task(obj, glb_meshes)  # one Stage 3 task, and a ranking task of the same set
    held = leases.claim(annotator, project.pk, Stage.SELECT)
    leases.release(held.pk, annotator, skip=True)  # the only Stage 1 image: skipped by ann
    page.login("ann")
    tab = page.tab
    counts = {el.get_attribute("data-stage"): el.inner_text() for el in tab.query_selector_all(".queue[data-stage]")}
    assert "0 for you" in counts["select"] and "1 for you" in counts["align"] and "1 for you" in counts["rank"]
    page.goto(f"/select/?project={project.pk}")  # and the page agrees: nothing to claim
    tab.wait_for_selector("#empty:not([hidden])")
    tab.click(".logout button")
    page.login("ann2")
    counts = {el.get_attribute("data-stage"): el.inner_text() for el in tab.query_selector_all(".queue[data-stage]")}
    assert "1 for you" in counts["select"]
    page.assert_no_js_errors()
