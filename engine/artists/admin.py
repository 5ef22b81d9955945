from django.contrib import admin

from engine.artists.models import ArtistCase, ArtistMesh


@admin.register(ArtistCase)
class ArtistCaseAdmin(admin.ModelAdmin):
    list_display = ["id", "candidate_set", "failure_category", "rating", "created_at"]
    list_filter = ["failure_category"]


@admin.register(ArtistMesh)
class ArtistMeshAdmin(admin.ModelAdmin):
    list_display = ["id", "case", "uploaded_by", "format", "triangles", "submitted", "created_at"]
