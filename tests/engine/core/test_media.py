"""Stored files are served to signed-in people with a role only."""

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.authtoken.models import Token

pytestmark = pytest.mark.django_db


def _url(image):
    return image.file.url


def test_anonymous_visitors_get_no_files(image):
    response = Client().get(_url(image))
    assert response.status_code == 401


def test_an_account_without_a_role_gets_no_files(image):
    client = Client()
    client.force_login(User.objects.create_user("nobody"))
    assert client.get(_url(image)).status_code == 403


def test_a_signed_in_annotator_gets_the_file(image, annotator):
    client = Client()
    client.force_login(annotator)
    response = client.get(_url(image))
    assert response.status_code == 200 and response["Cache-Control"].startswith("private")
    with image.file.open("rb") as f:
        assert b"".join(response.streaming_content) == f.read()


def test_a_script_with_a_token_gets_the_file(image, artist):
    token = Token.objects.create(user=artist)
    response = Client().get(_url(image), HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 200
    assert Client().get(_url(image), HTTP_AUTHORIZATION="Token not-a-token").status_code == 401


def test_no_way_out_of_media_root(annotator):
    client = Client()
    client.force_login(annotator)
    assert client.get("/media/../engine/settings.py").status_code == 404
    assert client.get("/media/%2e%2e/engine/settings.py").status_code == 404
    assert client.get("/media/no/such/file.png").status_code == 404


def test_behind_nginx_the_file_is_handed_over_after_the_check(image, annotator, settings):
    settings.MEDIA_ACCEL_REDIRECT = "/protected-media/"
    client = Client()
    client.force_login(annotator)
    response = client.get(_url(image))
    assert response.status_code == 200 and response.content == b""
    assert response["X-Accel-Redirect"] == "/protected-media/" + image.file.name
    assert Client().get(_url(image)).status_code == 401
