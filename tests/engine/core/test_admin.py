"""The admin as an engineer sees it: users with their roles, and every row named in words."""

import re

import pytest
from django.apps import apps
from django.db import models
from django.test import Client

from engine.artists.services import open_artist_case
from engine.core.roles import ENGINE_APPS

pytestmark = pytest.mark.django_db


def admin_for(user):
    client = Client()
    client.force_login(user)
    return client


def test_an_engineer_sees_the_users_and_their_roles(engineer, annotator, artist):
    client = admin_for(engineer)
    assert "/admin/auth/user/" in client.get("/admin/").content.decode()
    page = client.get("/admin/auth/user/")
    assert page.status_code == 200
    rows = {re.search(r">([^<>]+)</a></th>", r).group(1): r
            for r in page.content.decode().split('<th class="field-username">')[1:]}
    assert set(rows) == {"ann", "art", "eng"}
    assert "annotator" in rows["ann"] and "artist" in rows["art"] and "engineer" in rows["eng"]
    only_artists = client.get("/admin/auth/user/", {"role": "artist"}).content.decode()
    assert ">art<" in only_artists and ">ann<" not in only_artists


def test_an_engineer_cannot_change_a_user_there(engineer, annotator):
    client = admin_for(engineer)
    assert client.get(f"/admin/auth/user/{annotator.pk}/change/").status_code == 200  # a read-only view
    answer = client.post(f"/admin/auth/user/{annotator.pk}/change/", {"username": "ann", "is_superuser": "on"})
    assert answer.status_code == 403
    annotator.refresh_from_db()
    assert not annotator.is_superuser


def test_an_annotator_has_no_admin(annotator):
    assert admin_for(annotator).get("/admin/auth/user/").status_code == 302  # to the admin's login


def test_every_engine_model_names_its_rows_in_words():
    plain = [m.__name__ for label in ENGINE_APPS for m in apps.get_app_config(label).get_models()
             if m.__str__ is models.Model.__str__]
    assert plain == [], f"these models print as 'Model object (1)': {plain}"


def test_artist_cases_are_listed_by_what_they_are(engineer, obj, candidate_set):
    open_artist_case(obj.image.project, obj, candidate_set, failure_category="occlusion", rating=0.25)
    page = admin_for(engineer).get("/admin/artists/artistcase/").content.decode()
    assert "ArtistCase object" not in page
    case = candidate_set.artist_cases.get()
    assert str(case) == f"artist case {case.pk}: Occlusion, rated 0.25 (task {case.task_id})"
    assert f"set {candidate_set.pk} of object {obj.pk} (person)" in page
