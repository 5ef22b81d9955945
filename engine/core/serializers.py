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

    def validate_generators(self, value):
        """Names of this deployment's generators; "flow_model" picks every deployed checkpoint of ours."""
        from engine.candidates.generation import suite
        from model_suite.registry import FLOW_MODEL

        if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
            raise serializers.ValidationError("Give a list of generator names (an empty list runs every available one).")
        known = set(suite()) | {FLOW_MODEL}
        unknown = sorted(set(value) - known)
        if unknown:
            # A misspelt name would leave the project's sets empty and send every object to the artists.
            raise serializers.ValidationError(f"Unknown generators: {', '.join(unknown)}. Choose from "
                                              f"{', '.join(sorted(known))} (see GET /api/generators/).")
        return value


class IterationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Iteration
        fields = ["id", "project", "number", "alpha", "notes", "started_at", "closed_at"]
        read_only_fields = ["id", "number", "started_at", "closed_at"]
