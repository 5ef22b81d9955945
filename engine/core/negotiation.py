"""DRF's content negotiation, remembered per Accept header."""

from rest_framework.negotiation import DefaultContentNegotiation

_MAX_ENTRIES = 512


class ContentNegotiation(DefaultContentNegotiation):
    """Choose a renderer exactly as DRF does, and remember the choice for each Accept header.

    DRF parses the Accept header and the renderers' media types on every request, which cost
    an API call about as much CPU as authenticating it. The choice depends only on the header,
    the view's renderers and a format (suffix or ?format=), so it is remembered per process for
    requests without a format; those with one, and refusals (406), are worked out every time.
    """

    _chosen = {}

    def select_renderer(self, request, renderers, format_suffix=None):
        if format_suffix or request._request.META.get("QUERY_STRING"):
            return super().select_renderer(request, renderers, format_suffix)
        key = (request._request.META.get("HTTP_ACCEPT", "*/*"), tuple(type(r) for r in renderers))
        chosen = self._chosen.get(key)
        if chosen is None:
            renderer, media_type = super().select_renderer(request, renderers, format_suffix)
            if len(self._chosen) >= _MAX_ENTRIES:
                self._chosen.clear()  # a client sending ever new headers cannot grow it without bound
            chosen = self._chosen[key] = (renderers.index(renderer), media_type)
        return renderers[chosen[0]], chosen[1]
