from rest_framework import serializers

from engine.candidates.validators import check_generators
from engine.core.models import Iteration, Project, check_alpha_schedule, check_curriculum, check_taxonomy


class JSONObjectField(serializers.JSONField):
    """A JSON object ({} when there is nothing to record): null, a list or a number is a 400 naming the field.

    DRF's JSONField parses an HTML form's text after its null check, so the browsable API's
    untouched "null" reached a NOT NULL column as an IntegrityError (a 500). The form starts at {}.
    """

    default_error_messages = {"not_object": "Must be a JSON object such as {{\"lr\": 0.001}} (or {{}} for none), "
                                            "not {kind}."}

    def __init__(self, **kwargs):
        kwargs.setdefault("initial", dict)
        kwargs.setdefault("default", dict)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if getattr(data, "is_json_string", False) and not data.strip():
            self.fail("not_object", kind="an empty value")
        value = super().to_internal_value(data)
        if not isinstance(value, dict):
            kinds = {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
            self.fail("not_object", kind="null" if value is None else kinds.get(type(value), type(value).__name__))
        return value


class ProjectSerializer(serializers.ModelSerializer):
    class Meta:
        model = Project
        fields = ["id", "name", "alpha", "n_candidates", "taxonomy", "route_failures", "ranking_overlap",
                  "generators", "alpha_schedule", "collection_target", "tail_share", "checkpoints_deployed",
                  "promote_metric", "promote_max_drop_se", "promote_tolerance", "promote_min_preference",
                  "curriculum", "curriculum_floor", "created_at"]
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

    def validate_curriculum(self, value):
        check_curriculum(value)
        return value

    def validate(self, attrs):
        floor = attrs.get("curriculum_floor", getattr(self.instance, "curriculum_floor", 0.0))
        taxonomy = attrs.get("taxonomy", getattr(self.instance, "taxonomy", None)) or []
        if floor * len(taxonomy) > 1:
            raise serializers.ValidationError({"curriculum_floor": [
                f"A floor of {floor} for each of {len(taxonomy)} categories adds up to more than the whole; "
                f"set it at most {1 / len(taxonomy):.4f}."]})
        return attrs


class IterationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Iteration
        fields = ["id", "project", "number", "alpha", "notes", "started_at", "closed_at"]
        read_only_fields = ["id", "number", "started_at", "closed_at"]
