from django.contrib import admin

from engine.alignment.models import Alignment


@admin.register(Alignment)
class AlignmentAdmin(admin.ModelAdmin):
    list_display = ["id", "task", "candidate", "artist_mesh", "rating", "scale", "aligned_by", "aligned_at"]
