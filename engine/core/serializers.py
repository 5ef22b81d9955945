from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from engine.core import fields as strict
from engine.core.generators import check_generators, generator_names
from engine.core.models import (
    Iteration,
    Project,
    check_alpha_schedule,
    check_curriculum,
    check_taxonomy,
)
from engine.intake.taxonomy import default_taxonomy_slugs


@extend_schema_field({"type": "object", "additionalProperties": {}})  # the schema says an object, as the field
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


class GeneratorNames(serializers.ListField):
    """A list of this deployment's generator names (an enum in the schema); an unknown one is named in one message."""

    def __init__(self, **kwargs):
        super().__init__(child=serializers.ChoiceField(choices=[]), **kwargs)

    def to_internal_value(self, data):
        try:
            check_generators(data)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None
        return super().to_internal_value(data)


class ProjectSerializer(strict.ModelSerializer):
    # Typed, so the schema says what the JSON columns hold; the model's checks below still run.
    taxonomy = serializers.ListField(
        child=serializers.ChoiceField(choices=default_taxonomy_slugs()), min_length=1, required=False,
        help_text="Category slugs allowed in this project (a subset of the shipped taxonomy, GET /api/categories/).")
    generators = GeneratorNames(
        required=False,
        help_text="Generator names to run for this project (GET /api/generators/); empty: every available one.")
    alpha_schedule = serializers.ListField(
        child=strict.FloatField(min_value=0.0, max_value=1.0), required=False,
        help_text="α_k of iteration k, rising (α_1 ≤ α_2 ≤ …); empty: the project's α.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["generators"].child.choices = generator_names()  # this deployment's, known once apps are ready

    class Meta:
        model = Project
        fields = ["id", "name", "alpha", "n_candidates", "taxonomy", "route_failures", "ranking_overlap",
                  "generators", "alpha_schedule", "collection_target", "tail_share", "best_of", "tail_best_of",
                  "checkpoints_deployed", "promote_metric", "promote_max_drop_se", "promote_tolerance",
                  "promote_min_preference", "curriculum", "curriculum_floor",
                  "gold_rate", "overlap_rate", "review_min_compare_seconds", "review_min_align_seconds",
                  "artist_share", "artist_cluster_distance", "artist_representatives", "artist_mesh_serves_cluster",
                  "created_at"]
        read_only_fields = ["id", "created_at"]

    # The checks the admin's form runs too (Project.clean, ProjectForm); DRF answers their errors with a 400.
    def validate_taxonomy(self, value):
        check_taxonomy(value)
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


class IterationSerializer(strict.ModelSerializer):
    class Meta:
        model = Iteration
        fields = ["id", "project", "number", "alpha", "notes", "started_at", "closed_at"]
        read_only_fields = ["id", "number", "started_at", "closed_at"]
