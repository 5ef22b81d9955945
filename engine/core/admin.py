from django.contrib import admin

from engine.core.models import Iteration, Project


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "alpha", "n_candidates", "route_failures", "ranking_overlap", "created_at"]


@admin.register(Iteration)
class IterationAdmin(admin.ModelAdmin):
    list_display = ["project", "number", "alpha", "started_at", "closed_at"]
    list_filter = ["project"]
