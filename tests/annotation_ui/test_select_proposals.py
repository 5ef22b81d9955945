"""Stage 1 in the browser with imported annotations: each proposal is confirmed, fixed or rejected, then the image done."""

import pytest

from engine.intake.importing import import_annotations
from engine.intake.models import ObjectInstance, ObjectStatus
from engine.intake.services import ingest
from tests.engine.intake import coco_photos

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_annotator_reviews_imported_proposals_instead_of_drawing(page, annotator, project, tmp_path, monkeypatch):
    from engine.candidates import tasks as generation

    queued = []
    monkeypatch.setattr(generation.start_generation, "delay", lambda object_id: queued.append(object_id))
    coco, _ = coco_photos.write(tmp_path)
    ingest(project, (tmp_path / "coins.png").read_bytes(), "coins.png", source_id="coins.png")
    coins = {**coco, "annotations": [a for a in coco["annotations"] if a["image_id"] == 1][:3]}
    assert import_annotations(project, coins, category_map={"coin": "other"})["imported"] == 3
    first, second, third = ObjectInstance.objects.order_by("id")

    page.login("ann")
    tab = page.tab
    page.goto(f"/select/?project={project.pk}")
    tab.wait_for_function("window.__select && window.__select.ready")
    assert tab.inner_text("#count") == "3 objects in this image · 3 imported to review"
    assert tab.locator("#objects li.proposed").count() == 3
    page.screenshot("stage1-proposals")

    tab.keyboard.press("f")  # not yet: every proposal is reviewed first
    tab.wait_for_function("document.querySelector('#banner').textContent.includes('still to review')")

    tab.click(f"#objects li[data-id='{first.pk}'] button[data-action=confirm]")
    tab.wait_for_selector(f"#objects li[data-id='{first.pk}'][data-status=selected]")
    tab.click(f"#objects li[data-id='{second.pk}'] button[data-action=reject]")
    tab.wait_for_selector(f"#objects li[data-id='{second.pk}'][data-status=rejected]")
    # Fix: the third comes into the editor with its mask and category; the annotator changes the category.
    tab.click(f"#objects li[data-id='{third.pk}'] button[data-action=fix]")
    assert tab.input_value("#category") == "Other" and not tab.is_disabled("#accept")
    tab.fill("#category", "")
    tab.locator("#category").press_sequentially("globe")  # a synonym of sphere
    tab.wait_for_selector("#suggest li")
    tab.keyboard.press("Enter")
    tab.click("#accept")
    tab.wait_for_selector(f"#objects li[data-id='{third.pk}'][data-status=selected]")
    assert tab.inner_text("#count") == "2 objects in this image"

    tab.keyboard.press("f")
    tab.wait_for_selector("#empty:not([hidden])")
    statuses = dict(ObjectInstance.objects.values_list("pk", "status"))
    assert statuses == {first.pk: ObjectStatus.GENERATING, second.pk: ObjectStatus.REJECTED,  # confirmed: sent on
                        third.pk: ObjectStatus.GENERATING}
    third.refresh_from_db()
    assert third.category == "sphere" and third.edited and third.selected_by == annotator
    assert sorted(queued) == [first.pk, third.pk]
    page.assert_no_js_errors()
