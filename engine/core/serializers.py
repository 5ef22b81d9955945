from rest_framework import serializers

from engine.candidates.validators import check_generators
from engine.core.models import Iteration, Project, check_alpha_schedule, check_taxonomy


class ProjectSerializer(serializers.ModelSerializer):
    class Meta:
        model = Project
        fields = ["id", "name", "alpha", "n_candidates", "taxonomy", "route_failures", "ranking_overlap",
                  "generators", "alpha_schedule", "collection_target", "tail_share", "checkpoints_deployed",
                  "promote_metric", "promote_max_drop_se", "promote_tolerance", "promote_min_preference",
                  "created_at"]
        read_only_fields = ["id", "created_at"]

    # The checks the admin's form runs too (Project.clean, ProjectForm); DRF answers their errors with a 400.
    def validate_taxonomy(self, value):
        check_taxonomy(value)
        return value

    def validate_generators(self, value):
        check_generators(value)
        return value

    def validate_alpha_schedule(self, value):
        check_alpha_schedule(value)
        return value


class IterationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Iteration
        fields = ["id", "project", "number", "alpha", "notes", "started_at", "closed_at"]
        read_only_fields = ["id", "number", "started_at", "closed_at"]
