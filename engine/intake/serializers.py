from rest_framework import serializers

from engine.core import fields as strict
from engine.intake.models import FLAG_REASONS, Image


class ImageSerializer(strict.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = Image
        fields = ["id", "project", "url", "width", "height", "source_dataset", "source_id", "quality_ok",
                  "quality_reason", "blur_variance", "contrast", "ingested_at"]
        read_only_fields = fields

    def get_url(self, image) -> str:
        return image.file.url


class IngestSerializer(serializers.Serializer):
    file = serializers.FileField()
    depth = serializers.FileField(required=False, help_text="Optional .npy (H, W) depth in metres.")
    intrinsics = serializers.JSONField(required=False, help_text="fx, fy, cx, cy in pixels (with depth).")
    source_dataset = serializers.CharField(max_length=100, required=False, default="upload")
    source_id = serializers.CharField(max_length=200, required=False, default="")


class MaskRLESerializer(serializers.Serializer):
    size = serializers.ListField(child=serializers.IntegerField(min_value=1), min_length=2, max_length=2)
    counts = serializers.ListField(child=serializers.IntegerField(min_value=0), min_length=1)


class ObjectCreateSerializer(serializers.Serializer):
    mask = MaskRLESerializer()
    category = serializers.CharField(max_length=64)
    description = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    confirm_multi_region = serializers.BooleanField(required=False, default=False)
    seconds = strict.FloatField(min_value=0, required=False, default=0.0)


class SegmentSerializer(serializers.Serializer):
    points = serializers.ListField(
        child=serializers.ListField(child=strict.FloatField(), min_length=3, max_length=3),
        min_length=1, max_length=64, help_text="[[x, y, 1 for positive / 0 for negative], ...] in pixels.",
    )


class FlagImageSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(choices=sorted(FLAG_REASONS))
    note = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    seconds = strict.FloatField(min_value=0, max_value=24 * 3600, required=False, default=0.0)
