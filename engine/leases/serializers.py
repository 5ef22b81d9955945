from rest_framework import serializers

from engine.artists.models import FailureCategory
from engine.leases.models import Stage


class ClaimSerializer(serializers.Serializer):
    project = serializers.IntegerField(min_value=1)
    stage = serializers.ChoiceField(choices=Stage.choices)
    failure_category = serializers.ChoiceField(
        choices=FailureCategory.choices, required=False, allow_blank=True, default="",
        help_text="Artist tasks only: serve a case of this failure category.",
    )


class ReleaseSerializer(serializers.Serializer):
    skip = serializers.BooleanField(
        required=False, default=False,
        help_text="Do not serve this task to me again for a while (I cannot do it); others still get it.",
    )


class SecondsSerializer(serializers.Serializer):
    seconds = serializers.FloatField(min_value=0, max_value=24 * 3600, required=False, default=0.0)
