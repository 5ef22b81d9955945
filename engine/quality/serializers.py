"""Inputs of the quality-control endpoints."""

from rest_framework import serializers


class DecisionSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=["accept", "reject"],
                                       help_text="accept: the work counts; reject: it is undone and done again.")
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")
