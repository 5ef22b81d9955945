from django.contrib import admin

from engine.candidates.models import Candidate, CandidateSet


class CandidateInline(admin.TabularInline):
    model = Candidate
    extra = 0
    fields = ["generator", "generator_version", "kind", "seed", "triangles", "size_bytes", "seconds"]
    readonly_fields = fields


@admin.register(CandidateSet)
class CandidateSetAdmin(admin.ModelAdmin):
    list_display = ["id", "object", "iteration", "status", "created_at", "ready_at"]
    list_filter = ["status", "iteration"]
    inlines = [CandidateInline]
