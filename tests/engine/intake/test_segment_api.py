"""POST /api/images/{id}/segment/: clicks, a box and strokes; masks that cannot be objects are said so and refused."""

import numpy as np
import pytest

from engine.intake import masks
from engine.intake.models import ObjectInstance

pytestmark = pytest.mark.django_db


def segment(client, image, body):
    return client.post(f"/api/images/{image.pk}/segment/", body, format="json")


def test_a_box_alone_is_a_prompt_and_the_answer_says_who_made_it(api, annotator, image):
    r = segment(api(annotator), image, {"box": [150, 20, 470, 512]})  # the astronaut
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["segmenter"] == "builtin" and body["ms"] > 0 and "warning" not in body
    x0, y0, x1, y1 = body["bbox"]
    assert x0 >= 150 - 1 and x1 <= 470 + 1 and 0.05 < body["area_fraction"] < 0.6


def test_strokes_paint_and_erase_over_the_answer(api, annotator, image):
    client = api(annotator)
    painted = segment(client, image, {"strokes": [{"positive": True, "radius": 10, "path": [[100, 100], [200, 100]]}]})
    assert painted.status_code == 200, painted.content
    mask = masks.decode(painted.json()["mask"])
    assert mask[100, 150] and mask[100, 95] and not mask[120, 150] and mask.sum() == pytest.approx(120 * 21, rel=0.1)
    erased = segment(client, image, {"strokes": [
        {"positive": True, "radius": 10, "path": [[100, 100], [200, 100]]},
        {"positive": False, "radius": 5, "path": [[150, 80], [150, 120]]}]})
    mask = masks.decode(erased.json()["mask"])
    assert not mask[100, 150] and mask[100, 120]


@pytest.mark.parametrize("body,field,says", [
    ({}, "non_field_errors", "Give clicks, a box or brush strokes"),
    ({"points": [[600, 10, 1]]}, "points", "outside"),
    ({"points": [[10, 10, 0]]}, "points", "positive click"),
    ({"box": [10, 10, 11, 11]}, "box", "drag a larger one"),
    ({"strokes": [{"positive": True, "radius": 0, "path": [[1, 1]]}]}, "strokes", ""),
])
def test_prompts_that_cannot_be_answered_are_400_with_the_field(api, annotator, image, body, field, says):
    r = segment(api(annotator), image, body)
    assert r.status_code == 400, r.content
    assert field in r.json()["fields"] and says in r.content.decode(), r.json()


def test_a_mask_of_nearly_the_whole_image_is_flagged_then_refused_on_accept(api, annotator, image):
    client = api(annotator)
    task = client.post("/api/tasks/claim/", {"project": image.project_id, "stage": "select"}, format="json").json()
    everything = segment(client, image, {"strokes": [{"positive": True, "radius": 400, "path": [[256, 256]]}]}).json()
    assert everything["area_fraction"] > 0.95 and "covers" in everything["warning"]
    r = client.post(f"/api/tasks/{task['id']}/objects/", {"mask": everything["mask"], "category": "person"}, format="json")
    assert r.status_code == 400 and "covers" in r.json()["fields"]["mask"][0] and "Shift+click" in r.json()["detail"]
    assert not ObjectInstance.objects.exists()
    empty = masks.encode(np.zeros((image.height, image.width), bool))
    r = client.post(f"/api/tasks/{task['id']}/objects/", {"mask": empty, "category": "person"}, format="json")
    assert r.status_code == 400 and "empty" in r.json()["detail"]
