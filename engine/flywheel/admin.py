from django.contrib import admin

from engine.flywheel.models import DeploymentEvent, FlywheelRun, ModelCheckpoint


@admin.register(ModelCheckpoint)
class CheckpointAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "stage", "status", "iteration", "created_at", "promoted_at"]
    list_filter = ["project", "stage", "status"]


@admin.register(FlywheelRun)
class FlywheelRunAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "iteration", "alpha", "status", "step", "decision", "created_at", "finished_at"]
    list_filter = ["status", "decision", "project"]
    readonly_fields = ["job_id", "progress", "step_seconds", "error"]


@admin.register(DeploymentEvent)
class DeploymentEventAdmin(admin.ModelAdmin):
    list_display = ["id", "checkpoint", "action", "project", "run", "created_at"]
    list_filter = ["action"]
