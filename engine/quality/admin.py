from django.contrib import admin

from engine.quality.models import GoldCopy, GoldStandard, ReviewFlag


@admin.register(GoldStandard)
class GoldStandardAdmin(admin.ModelAdmin):
    list_display = ("id", "project", "stage", "object", "source", "active", "created_at")
    list_filter = ("project", "stage", "source", "active")


@admin.register(GoldCopy)
class GoldCopyAdmin(admin.ModelAdmin):
    list_display = ("id", "task", "gold", "answered_by", "passed", "answered_at")
    list_filter = ("passed",)


@admin.register(ReviewFlag)
class ReviewFlagAdmin(admin.ModelAdmin):
    list_display = ("id", "project", "stage", "task", "user", "status", "created_at", "reviewed_by")
    list_filter = ("project", "stage", "status")
