from rest_framework import serializers

from engine.artists.models import FailureCategory
from engine.core import fields as strict
from engine.ranking.models import Answer
from engine.ranking.rubric import LEVELS


class CompareSerializer(serializers.Serializer):
    position = serializers.IntegerField(min_value=0, help_text="Index of this comparison, from 0.")
    answer = serializers.ChoiceField(choices=Answer.choices)
    seconds = strict.FloatField(min_value=0, max_value=3600, required=False, default=0.0)


class RateSerializer(serializers.Serializer):
    rating = strict.FloatField(min_value=0.0, max_value=1.0, required=False)
    level = serializers.ChoiceField(choices=[lv[0] for lv in LEVELS], required=False, help_text="Rubric level.")
    rubric = serializers.DictField(required=False, default=dict)
    failure_category = serializers.ChoiceField(choices=FailureCategory.choices, required=False, allow_blank=True,
                                               default="")
    seconds = strict.FloatField(min_value=0, max_value=3600, required=False, default=0.0)

    def validate(self, attrs):
        if ("rating" in attrs) == ("level" in attrs):
            raise serializers.ValidationError({"rating": "Give exactly one of rating (0..1) or level (rubric)."})
        if "level" in attrs:
            attrs["rating"] = dict((lv[0], lv[1]) for lv in LEVELS)[attrs["level"]]
            attrs["rubric"] = {**attrs.get("rubric", {}), "level": attrs["level"]}
        if attrs.get("failure_category") == FailureCategory.NO_MATCH and attrs["rating"] != 0:
            raise serializers.ValidationError({"failure_category": (
                f"'{FailureCategory.NO_MATCH.value}' says none of the candidates is this object, which is rated 0 "
                f"(level 0), not {attrs['rating']}; send level 0, or another failure category.")})
        return attrs
