from django.contrib import admin

from engine.records.models import PreferencePair, TrainingSample


@admin.register(TrainingSample)
class TrainingSampleAdmin(admin.ModelAdmin):
    list_display = ["id", "object", "iteration", "source", "generator", "rating"]
    list_filter = ["iteration", "source"]


@admin.register(PreferencePair)
class PreferencePairAdmin(admin.ModelAdmin):
    list_display = ["id", "object", "iteration", "chosen_generator", "rejected_generator", "rejected_source"]
