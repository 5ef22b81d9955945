"""The dashboard's category panel: collected, accepted and failed objects per category against the curriculum."""

import pytest

from engine.candidates.models import CandidateSet, SetStatus
from engine.intake import masks
from engine.intake.models import ObjectInstance, ObjectStatus
from tests.engine.conftest import box_mask

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def collect(image, iteration, category, status, object_status=ObjectStatus.ALIGNING):
    mask = box_mask(image)
    obj = ObjectInstance.objects.create(image=image, mask_rle=masks.encode(mask), area=int(mask.sum()),
                                        bbox=masks.bbox(mask), category=category, status=object_status)
    return CandidateSet.objects.create(object=obj, iteration=iteration, status=status)


def rows(tab):
    """Return {first cell: [the other cells]} of the panel's table."""
    out = {}
    for line in tab.inner_text("#categories").splitlines()[1:]:
        cells = [c.strip() for c in line.split("\t")]
        out[cells[0]] = cells[1:]
    return out


def test_the_panel_shows_each_category_against_the_curriculum_and_refreshes(page, engineer, image):
    project = image.project
    project.curriculum = [{"group": "rigid", "categories": ["box", "mug"], "target": 4},
                          {"group": "deformable", "categories": ["dog"], "target": 4}]
    project.curriculum_floor = 0.01
    project.save()
    iteration = project.current_iteration()
    collect(image, iteration, "box", SetStatus.ACCEPTED, ObjectStatus.DONE)
    collect(image, iteration, "box", SetStatus.ACCEPTED, ObjectStatus.DONE)
    collect(image, iteration, "box", SetStatus.FAILED, ObjectStatus.FAILED)
    collect(image, iteration, "mug", SetStatus.READY, ObjectStatus.RANKING)
    collect(image, iteration, "other", SetStatus.FAILED, ObjectStatus.FAILED)

    page.login("eng")
    tab = page.tab
    page.goto(f"/dashboard/?project={project.pk}&refresh=1")
    tab.wait_for_selector("#categories")
    table = rows(tab)
    # rigid: 2 samples of 4, so half its share has moved on to dog; 39 categories keep 1 % each.
    rest = 1 - 0.01 * len(project.taxonomy)
    assert table["rigid"] == [
        "4", "2", "1", "80.0%", f"{100 * (2 * 0.01 + rest * 0.5):.1f}%", "2 / 4"]
    assert table["box"] == ["3", "2", "1", "60.0%", f"{100 * (0.01 + rest * 0.25):.1f}%", "2"]
    assert table["mug"] == ["1", "0", "0", "20.0%", f"{100 * (0.01 + rest * 0.25):.1f}%", "0"]
    assert table["deformable"] == ["0", "0", "0", "0.0%", f"{100 * (0.01 + rest * 0.5):.1f}%", "0 / 4"]
    assert table["1 more category with nothing yet"] == []  # dog: in the group, nothing collected
    assert table["other"] == ["1", "0", "1", "20.0%", "1.0%", "0"]  # the long tail, at the floor
    assert table["no group (floor)"][:3] == ["1", "0", "1"]
    tab.locator("#category-panel").scroll_into_view_if_needed()
    page.screenshot("dashboard-categories")

    # Two more boxes become samples: the rigid group meets its target, and the panel follows in place.
    collect(image, iteration, "box", SetStatus.ACCEPTED, ObjectStatus.DONE)
    collect(image, iteration, "box", SetStatus.ACCEPTED, ObjectStatus.DONE)
    tab.wait_for_function("document.querySelector('#categories').innerText.includes('target met')", timeout=15_000)
    table = rows(tab)
    assert table["rigid target met"][:3] == ["6", "4", "1"] and table["rigid target met"][-1] == "4 / 4"
    assert table["deformable"][4] == f"{100 * (0.01 + rest * 1.0):.1f}%"  # everything moves on to the next group
    page.assert_no_js_errors()
