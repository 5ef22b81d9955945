from rest_framework import serializers

from engine.artists.models import FailureCategory
from engine.leases.models import Stage


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
    project = serializers.IntegerField(min_value=1)
    stage = serializers.ChoiceField(choices=Stage.choices)
    failure_category = serializers.ChoiceField(
        choices=FailureCategory.choices, required=False, allow_blank=True, default="",
        help_text="Artist tasks only: serve a case of this failure category.",
    )


class ReleaseSerializer(ParamsSerializer):
    skip = serializers.BooleanField(
        required=False, default=False,
        help_text="Do not serve this task to me again for a while (I cannot do it); others still get it.",
    )


class SecondsSerializer(ParamsSerializer):
    seconds = serializers.FloatField(min_value=0, max_value=24 * 3600, required=False, default=0.0)
