from django.contrib import admin

from engine.ranking.models import Comparison, RankingSession


class ComparisonInline(admin.TabularInline):
    model = Comparison
    extra = 0
    readonly_fields = ["position", "left", "right", "answer", "kept", "tie_break", "seconds", "created_at"]


@admin.register(RankingSession)
class RankingSessionAdmin(admin.ModelAdmin):
    list_display = ["id", "candidate_set", "annotator", "rating", "failure_category", "rated_at"]
    inlines = [ComparisonInline]
