from rest_framework import serializers

from engine.candidates.validators import check_generators
from engine.core.models import Iteration, Project, check_taxonomy


class ProjectSerializer(serializers.ModelSerializer):
    class Meta:
        model = Project
        fields = ["id", "name", "alpha", "n_candidates", "taxonomy", "route_failures", "ranking_overlap",
                  "generators", "created_at"]
        read_only_fields = ["id", "created_at"]

    # The checks the admin's form runs too (Project.clean, ProjectForm); DRF answers their errors with a 400.
    def validate_taxonomy(self, value):
        check_taxonomy(value)
        return value

    def validate_generators(self, value):
        check_generators(value)
        return value


class IterationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Iteration
        fields = ["id", "project", "number", "alpha", "notes", "started_at", "closed_at"]
        read_only_fields = ["id", "number", "started_at", "closed_at"]
