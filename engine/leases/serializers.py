from rest_framework import serializers

from engine.core import fields as strict
from engine.leases import registry


class ParamsSerializer(serializers.Serializer):
    """Request parameters, validated by one shared instance per class: `ClaimSerializer.parse(request.data)`.

    DRF deep-copies a serializer's declared fields for every instance, which cost a claim more
    CPU than leasing the task. These fields keep no state between calls, so one bound instance
    validates every request. `parse` returns the validated dict or raises ValidationError
    (a 400 naming each field), exactly as `is_valid(raise_exception=True)` would.
    """

    @classmethod
    def parse(cls, data):
        shared = cls.__dict__.get("_shared")
        if shared is None:
            shared = cls._shared = cls()
        return shared.run_validation(data)


class ClaimSerializer(ParamsSerializer):
    """The stage and project to claim from, and the claim filters the stages register (failure_category)."""

    project = serializers.IntegerField(min_value=1)
    stage = serializers.ChoiceField(choices=[], help_text="A registered stage (engine/leases/registry.py).")

    def get_fields(self):
        fields = super().get_fields()
        fields["stage"] = serializers.ChoiceField(choices=registry.choices(), help_text=fields["stage"].help_text)
        for name, claim_filter in registry.claim_filters().items():
            fields[name] = serializers.ChoiceField(choices=claim_filter.choices, required=False, allow_blank=True,
                                                   default="", help_text=claim_filter.help_text)
        return fields


class ReleaseSerializer(ParamsSerializer):
    skip = serializers.BooleanField(
        required=False, default=False,
        help_text="Do not serve this task to me again for a while (I cannot do it); others still get it.",
    )


class SecondsSerializer(ParamsSerializer):
    seconds = strict.FloatField(min_value=0, max_value=24 * 3600, required=False, default=0.0)
