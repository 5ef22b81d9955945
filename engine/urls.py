"""URL configuration: the API under /api/, the admin, and the annotation pages."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.static import serve
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/", include("engine.api_urls")),
    path("media/<path:path>", serve, {"document_root": settings.MEDIA_ROOT}),
    path("", include("annotation_ui.urls")),
]
