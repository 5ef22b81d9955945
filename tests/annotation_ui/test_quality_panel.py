"""The dashboard's quality control in the browser: people's gold accuracy, agreement, and the review list."""

import pytest

from engine.core.models import Project
from engine.intake.models import Image
from engine.leases import services as leases
from engine.leases.models import Task
from engine.quality import services as quality
from engine.quality.models import FlagStatus, GoldCopy, ReviewFlag
from engine.ranking import services as ranking
from tests.annotation_ui.conftest import box_mask, ready_set
from tests.engine.quality.helpers import new_object

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def rank(user, project, rating, pick=None):
    """Claim the next ranking, keep `pick` whenever it is shown, rate the survivor; return (task, winner)."""
    task = leases.claim(user, project.pk, "rank")
    session = ranking.session_for(task, user)
    state = ranking.state_of(session)
    while not state.done:
        _, state = ranking.compare(task.pk, user, state.position, "right" if state.right == pick else "left", 1.0)
    ranking.rate(task.pk, user, rating, seconds=2.0)
    return task, state.winner


def test_the_dashboard_shows_gold_accuracy_and_the_review_list_accepts_a_flag(page, engineer, annotator, annotator2,
                                                                           obj, glb_meshes):
    project = Project.objects.get(pk=obj.image.project_id)
    ready_set(obj, glb_meshes, 4)
    first, winner = rank(annotator, project, 0.9)
    quality.mark_gold(Task.objects.get(pk=first.pk), engineer)
    Project.objects.filter(pk=project.pk).update(gold_rate=0.5)
    project.refresh_from_db()
    image = Image.objects.get(pk=obj.image_id)  # not obj.image: its cached project has the old gold_rate
    ready_set(new_object(image, annotator, box=(20, 300, 200, 500)), glb_meshes, 4)  # with a gold copy of obj
    rank(annotator2, project, 0.9)
    gold_task, _ = rank(annotator2, project, 0.9, pick=winner)
    assert GoldCopy.objects.get(task=gold_task).passed
    Project.objects.filter(pk=project.pk).update(review_min_compare_seconds=0.3, gold_rate=0)
    project.refresh_from_db()
    image = Image.objects.get(pk=obj.image_id)
    mask = box_mask(image, 300, 300, 450, 450)
    from engine.intake import masks
    from engine.intake.models import ObjectInstance

    third = ObjectInstance.objects.create(image=image, mask_rle=masks.encode(mask), area=int(mask.sum()),
                                          bbox=masks.bbox(mask), category="chair", selected_by=annotator)
    ready_set(third, glb_meshes, 4)
    held, _ = rank(annotator2, project, 0.9)  # answered within milliseconds: held for review
    flag = ReviewFlag.objects.get(task=held)

    page.login("eng")
    tab = page.tab
    page.goto(f"/dashboard/?project={project.pk}")
    tab.wait_for_selector("#quality")
    rows = {r.split("\t")[0]: r.split("\t") for r in tab.inner_text("#quality").splitlines()[1:]}
    assert rows["ann2"][2:4] == ["1", "100%"]  # one gold answer, right
    assert rows["ann2"][7].startswith("1")  # one flag
    assert "ann\t" in tab.inner_text("#quality") and "sim" not in tab.inner_text("#quality")
    assert "1 waiting for review" in tab.inner_text("#quality-summary")
    review = tab.inner_text("#review")
    assert f"rank task {held.pk}" in review and "too_fast" in review
    page.screenshot("dashboard-quality")
    tab.click(f"#review button[data-review=accept][data-flag-id='{flag.pk}']")
    tab.wait_for_function(f"!document.querySelector(\"#review tr[data-flag='{flag.pk}']\")")
    tab.wait_for_function("document.querySelector('#banner').textContent.includes('accepted')")
    flag.refresh_from_db()
    assert flag.status == FlagStatus.ACCEPTED and flag.reviewed_by == engineer
    assert flag.outcome["routed_to"] == "align"
    tab.wait_for_function("document.querySelector('#quality-summary').textContent.includes('0 waiting')")
    assert "nothing waits for review" in tab.inner_text("#review")
    page.assert_no_js_errors()
