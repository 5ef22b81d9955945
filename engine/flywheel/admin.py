from django.contrib import admin

from engine.flywheel.models import ModelCheckpoint, PreferencePair, TrainingSample


@admin.register(ModelCheckpoint)
class CheckpointAdmin(admin.ModelAdmin):
    list_display = ["name", "stage", "status", "iteration", "created_at", "promoted_at"]
    list_filter = ["stage", "status"]


@admin.register(TrainingSample)
class TrainingSampleAdmin(admin.ModelAdmin):
    list_display = ["id", "object", "iteration", "source", "generator", "rating"]
    list_filter = ["iteration", "source"]


@admin.register(PreferencePair)
class PreferencePairAdmin(admin.ModelAdmin):
    list_display = ["id", "object", "iteration", "chosen_generator", "rejected_generator", "rejected_source"]
