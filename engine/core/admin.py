from django import forms
from django.contrib import admin

from engine.candidates.validators import check_generators
from engine.core.models import Iteration, Project


class ProjectForm(forms.ModelForm):
    """The project's own checks (Project.clean) and the generator names, as the API's serializer checks them."""

    def clean_generators(self):
        check_generators(self.cleaned_data["generators"])
        return self.cleaned_data["generators"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    form = ProjectForm
    list_display = ["name", "alpha", "n_candidates", "route_failures", "ranking_overlap", "created_at"]


@admin.register(Iteration)
class IterationAdmin(admin.ModelAdmin):
    list_display = ["project", "number", "alpha", "started_at", "closed_at"]
    list_filter = ["project"]
