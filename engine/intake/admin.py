from django.contrib import admin

from engine.intake.models import Image, ObjectInstance


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "source_dataset", "source_id", "width", "height", "quality_ok", "quality_reason"]
    list_filter = ["project", "quality_ok", "source_dataset"]


@admin.register(ObjectInstance)
class ObjectAdmin(admin.ModelAdmin):
    list_display = ["id", "image", "category", "status", "area", "selected_by"]
    list_filter = ["status", "category"]
    raw_id_fields = ["image", "selected_by"]
