"""Stage 2 and Stage 3 through the API, as the quality tests drive them."""

import numpy as np
from django.contrib.auth.models import Group

from engine.core.roles import SIMULATED_GROUP
from engine.intake import masks
from engine.intake.models import ObjectInstance


def claim(client, project, stage="rank"):
    response = client.post("/api/tasks/claim/", {"project": project.pk, "stage": stage}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def rank(client, task, rating, pick=None, failure_category=""):
    """Play a claimed ranking to the end, keeping `pick` (a candidate id) whenever it is shown; submit the rating."""
    state = task["payload"]["state"]
    while not state["done"]:
        answer = "right" if pick is not None and state["right"] == pick else "left"
        response = client.post(f"/api/tasks/{task['id']}/compare/",
                               {"position": state["position"], "answer": answer, "seconds": 1.0}, format="json")
        assert response.status_code == 200, response.content
        state = response.json()["state"]
    body = {"rating": rating, "seconds": 2.0}
    if failure_category:
        body["failure_category"] = failure_category
    response = client.post(f"/api/tasks/{task['id']}/submit/", body, format="json")
    assert response.status_code == 200, response.content
    return state["winner"], response.json()


def pose_body(q=(1, 0, 0, 0), t=(0.1, 0.0, 2.0), s=1.0):
    return {"rotation": {"quaternion": list(q)}, "translation": list(t), "scale": s, "seconds": 30.0}


def new_object(image, user, box=(150, 50, 350, 300), category="person", description="an astronaut"):
    x0, y0, x1, y1 = box
    mask = np.zeros((image.height, image.width), dtype=bool)
    mask[y0:y1, x0:x1] = True
    return ObjectInstance.objects.create(image=image, mask_rle=masks.encode(mask), area=int(mask.sum()),
                                         bbox=masks.bbox(mask), category=category, description=description,
                                         selected_by=user)


def simulate(user):
    """Put a user in the `simulated` group, as engine.simulation's pool does."""
    group, _ = Group.objects.get_or_create(name=SIMULATED_GROUP)
    user.groups.add(group)
    return user
