"""URL configuration: the API under /api/, the admin, and the annotation pages."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from engine.core.media import media

handler404 = "engine.core.errors.page_not_found"
handler500 = "engine.core.errors.server_error"

urlpatterns = [
    path("api/", include("engine.api_urls")),  # first: the annotation clients' calls resolve in a few steps
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema", template_name="engine/redoc.html"),
         name="api-redoc"),
    path(f"{settings.MEDIA_URL.strip('/')}/<path:path>", media, name="media"),
    path("", include("annotation_ui.urls")),
]
