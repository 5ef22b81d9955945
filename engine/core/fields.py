"""Serializer fields that accept what the schema says and nothing more."""

from django.db import models
from django.http import QueryDict
from rest_framework import serializers


class FloatField(serializers.FloatField):
    """DRF's FloatField, less booleans: float(False) is 0.0, but `false` is no number the schema allows."""

    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)


class CharField(serializers.CharField):
    """DRF's CharField, less numbers and booleans: str(0) is "0", but 0 is no string the schema allows."""

    def to_internal_value(self, data):
        if isinstance(data, bool | int | float):
            self.fail("invalid")
        return super().to_internal_value(data)


def _from_json(field):
    """Whether the field reads a JSON body (a form or a query string holds only strings)."""
    return not isinstance(getattr(field.root, "initial_data", None), QueryDict)


class BooleanField(serializers.BooleanField):
    """DRF's BooleanField, less 1, 0, "true" and the like in a JSON body: the schema says true or false."""

    def to_internal_value(self, data):
        if not isinstance(data, bool) and _from_json(self):
            self.fail("invalid", input=data)
        return super().to_internal_value(data)


class IntegerField(serializers.IntegerField):
    """DRF's IntegerField, less strings and 5.0 in a JSON body: the schema says an integer."""

    def to_internal_value(self, data):
        if not isinstance(data, int) and _from_json(self):
            self.fail("invalid")
        return super().to_internal_value(data)


class ModelSerializer(serializers.ModelSerializer):
    """DRF's ModelSerializer, whose fields for the model's numbers, booleans and text take only those JSON types."""

    serializer_field_mapping = {**serializers.ModelSerializer.serializer_field_mapping}


ModelSerializer.serializer_field_mapping.update(
    {models.FloatField: FloatField, models.CharField: CharField, models.TextField: CharField,
     models.BooleanField: BooleanField, models.IntegerField: IntegerField,
     models.PositiveIntegerField: IntegerField, models.PositiveSmallIntegerField: IntegerField,
     models.SmallIntegerField: IntegerField, models.BigIntegerField: IntegerField})
