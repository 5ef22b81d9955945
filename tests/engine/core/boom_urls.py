"""The engine's URLs plus two views that raise: one under /api/ (DRF), one page."""

from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from engine.urls import handler404, handler500
from engine.urls import urlpatterns as engine_urls

__all__ = ["handler404", "handler500", "urlpatterns"]


class BoomAPI(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    def get(self, request):
        raise RuntimeError("boom from the API")


def boom_page(request):
    raise RuntimeError("boom from a page")


urlpatterns = [path("api/boom/", BoomAPI.as_view()), path("boom/", boom_page), *engine_urls]
