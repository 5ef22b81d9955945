"""Roles, permissions on every write, the OpenAPI schema and the error format."""

import pytest
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from engine.core.models import Iteration, Project

pytestmark = pytest.mark.django_db


def test_schema_is_served_and_lists_every_stage(api, annotator):
    response = api(annotator).get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in ["/api/tasks/claim/", "/api/tasks/{id}/compare/", "/api/tasks/{id}/upload/", "/api/tasks/{id}/submit/",
                 "/api/tasks/{id}/objects/", "/api/projects/{id}/images/", "/api/iterations/{id}/export/"]:
        assert path in paths


def test_anonymous_requests_are_401_with_code():
    response = APIClient().post("/api/tasks/claim/", {"project": 1, "stage": "rank"}, format="json")
    assert response.status_code in (401, 403) and response.json()["code"] == "not_authenticated"


def test_token_auth_for_scripts(annotator):
    token = Token.objects.create(user=annotator)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.get("/api/me/").json() == {"id": annotator.pk, "username": "ann", "roles": ["annotator"]}


def test_session_auth_enforces_csrf(annotator, project):
    client = APIClient(enforce_csrf_checks=True)
    client.login(username="ann", password="ann")
    response = client.post("/api/tasks/claim/", {"project": project.pk, "stage": "align"}, format="json")
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]


def test_annotator_cannot_write_projects_export_or_reach_admin(api, annotator, project):
    assert api(annotator).get("/api/generators/").status_code == 403
    client = api(annotator)
    assert client.post("/api/projects/", {"name": "x"}, format="json").status_code == 403
    assert client.patch(f"/api/projects/{project.pk}/", {"alpha": 0.1}, format="json").status_code == 403
    it = project.current_iteration()
    assert client.post(f"/api/iterations/{it.pk}/export/", {}, format="json").status_code == 403
    assert client.get("/api/checkpoints/").status_code == 403
    admin = APIClient()
    admin.login(username="ann", password="ann")
    assert admin.get("/admin/").status_code == 302  # not staff: sent to the admin login
    project.refresh_from_db()
    assert project.alpha == 0.5


def test_engineer_creates_project_and_iterations(api, engineer):
    client = api(engineer)
    response = client.post("/api/projects/", {"name": "p2", "alpha": 0.7, "taxonomy": ["chair", "table"]}, format="json")
    assert response.status_code == 201, response.content
    bad = client.post("/api/projects/", {"name": "p3", "alpha": 1.5, "taxonomy": ["warp-drive"]}, format="json")
    assert bad.status_code == 400 and {"alpha", "taxonomy"} <= set(bad.json()["fields"])
    project = Project.objects.get(name="p2")
    # Generator names are checked against the deployment's suite, which the engineer can list.
    listed = client.get("/api/generators/").json()["generators"]
    assert {"geometric_lifting", "flow_model"} <= {g["name"] for g in listed}
    flow = next(g for g in listed if g["name"] == "flow_model")
    assert flow["available"] is False and flow["reason"]  # no checkpoint deployed: it says why
    ok = client.patch(f"/api/projects/{project.pk}/", {"generators": ["geometric_lifting", "flow_model"]}, format="json")
    assert ok.status_code == 200 and ok.json()["generators"] == ["geometric_lifting", "flow_model"]
    typo = client.patch(f"/api/projects/{project.pk}/", {"generators": ["geometric_liftin"]}, format="json")
    assert typo.status_code == 400 and "geometric_liftin" in typo.json()["fields"]["generators"][0]
    assert client.patch(f"/api/projects/{project.pk}/", {"generators": "lifting"}, format="json").status_code == 400
    project.refresh_from_db()
    assert project.generators == ["geometric_lifting", "flow_model"]
    first = client.post("/api/iterations/", {"project": project.pk, "alpha": 0.6}, format="json").json()
    second = client.post("/api/iterations/", {"project": project.pk, "alpha": 0.7}, format="json").json()
    assert (first["number"], second["number"]) == (1, 2)
    assert Iteration.objects.get(pk=first["id"]).closed_at is not None
    assert project.current_iteration().pk == second["id"]


def test_stage_roles_on_claim(api, artist, annotator, project):
    assert api(artist).post("/api/tasks/claim/", {"project": project.pk, "stage": "rank"}).status_code == 403
    assert api(annotator).post("/api/tasks/claim/", {"project": project.pk, "stage": "rank"}).status_code == 204
    bad = api(annotator).post("/api/tasks/claim/", {"project": 999, "stage": "nope"}, format="json")
    assert bad.status_code == 400 and "stage" in bad.json()["fields"]
    missing = api(annotator).post("/api/tasks/claim/", {"project": 999, "stage": "rank"}, format="json")
    assert missing.status_code == 404


def test_superuser_holds_every_role(db):
    root = User.objects.create_superuser("root", password="root")
    client = APIClient()
    client.force_authenticate(root)
    assert client.get("/api/me/").json()["roles"] == ["annotator", "artist", "engineer"]


def test_engineers_reach_the_admin_annotators_do_not(engineer, annotator, project):
    client = APIClient()
    client.login(username="eng", password="eng")
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/leases/task/").status_code == 200
    assert client.get(f"/admin/core/project/{project.pk}/change/").status_code == 200


def test_the_admin_checks_a_projects_generators_and_taxonomy_as_the_api_does(engineer):
    import json

    from engine.core.models import Project

    client = APIClient()
    client.login(username="eng", password="eng")
    form = {"name": "from-admin", "alpha": "0.5", "n_candidates": "8", "ranking_overlap": "1",
            "route_failures": "on", "taxonomy": json.dumps(["chair"]), "generators": json.dumps(["warp_drive"]),
            # the flywheel's settings, as the add form shows them (their defaults)
            "alpha_schedule": "[]", "collection_target": "100", "tail_share": "0.2", "best_of": "0",
            "tail_best_of": "8",
            "checkpoints_deployed": "2",
            "promote_metric": "viou", "promote_max_drop_se": "2", "promote_tolerance": "0.005",
            "promote_min_preference": "0.5", "curriculum": "[]", "curriculum_floor": "0.005",
            # quality control and artist triage, likewise
            "gold_rate": "0", "overlap_rate": "0", "review_min_compare_seconds": "0.3",
            "review_min_align_seconds": "2", "artist_share": "1", "artist_cluster_distance": "0",
            "artist_representatives": "1"}
    answer = client.post("/admin/core/project/add/", form)
    assert answer.status_code == 200  # the form again, with its errors; nothing saved
    assert "Unknown generators: warp_drive" in answer.content.decode()
    assert not Project.objects.filter(name="from-admin").exists()
    answer = client.post("/admin/core/project/add/", {**form, "taxonomy": json.dumps(["warp-core"])})
    assert "Unknown categories: warp-core" in answer.content.decode()
    answer = client.post("/admin/core/project/add/", {**form, "generators": json.dumps(["flow_model"])})
    assert answer.status_code == 302
    assert Project.objects.get(name="from-admin").generators == ["flow_model"]


def test_every_admin_changelist_renders(engineer, candidate_set):
    from django.contrib import admin

    client = APIClient()
    client.login(username="eng", password="eng")
    for model in admin.site._registry:
        if model._meta.app_label in ("core", "leases", "intake", "candidates", "ranking", "artists", "alignment",
                                     "quality", "flywheel"):
            url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
            assert client.get(url).status_code == 200, url
