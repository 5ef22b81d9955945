from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from engine.core.generators import check_generators
from engine.core.models import Iteration, Project
from engine.core.roles import ROLES, SIMULATED_GROUP


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


class RoleFilter(admin.SimpleListFilter):
    """Users by role (a role group), or the simulated annotators and artists."""

    title = "role"
    parameter_name = "role"

    def lookups(self, request, model_admin):
        return [(name, name) for name in (*ROLES, SIMULATED_GROUP)]

    def queryset(self, request, queryset):
        return queryset.filter(groups__name=self.value()) if self.value() else queryset


admin.site.unregister(get_user_model())


@admin.register(get_user_model())
class EngineUserAdmin(UserAdmin):
    """Django's user admin with each user's roles; engineers may look (roles are changed with `grant_role`)."""

    list_display = ["username", "roles", "email", "is_active", "is_staff", "last_login", "date_joined"]
    list_filter = [RoleFilter, "is_active", "is_staff", "is_superuser"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description="roles")
    def roles(self, user):
        names = sorted(g.name for g in user.groups.all())
        return ", ".join(names) + (" (superuser: every role)" if user.is_superuser else "") or "none"
