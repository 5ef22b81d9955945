"""The remembered content negotiation chooses what DRF's own would, every time."""

import pytest
from rest_framework import exceptions
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from engine.core.negotiation import ContentNegotiation

ACCEPTS = [None, "*/*", "application/json", "text/html", "text/html,application/xhtml+xml,*/*;q=0.8",
           "application/json; indent=4", "application/*"]


def _choose(negotiation, accept, path="/api/me/"):
    headers = {"HTTP_ACCEPT": accept} if accept is not None else {}
    request = Request(APIRequestFactory().get(path, **headers))
    renderers = [JSONRenderer(), BrowsableAPIRenderer()]
    renderer, media_type = negotiation.select_renderer(request, renderers)
    return renderers.index(renderer), media_type


@pytest.mark.parametrize("accept", ACCEPTS)
def test_it_chooses_as_drf_does_first_time_and_remembered(accept):
    ContentNegotiation._chosen.clear()
    expected = _choose(DefaultContentNegotiation(), accept)
    assert _choose(ContentNegotiation(), accept) == expected
    assert _choose(ContentNegotiation(), accept) == expected  # from memory


def test_a_format_parameter_is_honoured_and_an_unacceptable_header_refused_every_time():
    ContentNegotiation._chosen.clear()
    assert _choose(ContentNegotiation(), "*/*")[0] == 0  # remembered: JSON
    assert _choose(ContentNegotiation(), "*/*", "/api/me/?format=api")[0] == 1  # the format still wins
    for _ in range(2):
        with pytest.raises(exceptions.NotAcceptable):
            _choose(ContentNegotiation(), "application/xml")
    assert ("application/xml", (JSONRenderer, BrowsableAPIRenderer)) not in ContentNegotiation._chosen


@pytest.mark.django_db
def test_the_api_answers_json_and_the_browsable_page(api, annotator):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(annotator)
    assert client.get("/api/me/").headers["Content-Type"] == "application/json"
    assert client.get("/api/me/", HTTP_ACCEPT="text/html").headers["Content-Type"].startswith("text/html")
    assert client.get("/api/me/", HTTP_ACCEPT="application/xml").status_code == 406
