from django.contrib import admin

from engine.leases.models import Skip, Task


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "stage", "status", "lease_owner", "lease_expires_at", "completed_by", "claims"]
    list_filter = ["project", "stage", "status"]
    raw_id_fields = ["image", "object", "candidate_set", "lease_owner", "completed_by"]


@admin.register(Skip)
class SkipAdmin(admin.ModelAdmin):
    list_display = ["id", "task", "user", "until", "created_at"]
    raw_id_fields = ["task", "user"]
