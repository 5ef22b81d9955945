from rest_framework import serializers

from engine.core.models import Iteration, Project
from engine.intake.taxonomy import default_taxonomy_slugs


class ProjectSerializer(serializers.ModelSerializer):
    class Meta:
        model = Project
        fields = ["id", "name", "alpha", "n_candidates", "taxonomy", "route_failures", "ranking_overlap",
                  "generators", "created_at"]
        read_only_fields = ["id", "created_at"]

    def validate_taxonomy(self, value):
        known = set(default_taxonomy_slugs())
        if not isinstance(value, list) or not value:
            raise serializers.ValidationError("Give a non-empty list of category slugs.")
        unknown = sorted(set(value) - known)
        if unknown:
            raise serializers.ValidationError(f"Unknown categories: {', '.join(unknown)}. See GET /api/categories/.")
        return value


class IterationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Iteration
        fields = ["id", "project", "number", "alpha", "notes", "started_at", "closed_at"]
        read_only_fields = ["id", "number", "started_at", "closed_at"]
