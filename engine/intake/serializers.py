from rest_framework import serializers

from engine.core import fields as strict
from engine.intake.models import FLAG_REASONS, Image


class ImageSerializer(strict.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = Image
        fields = ["id", "project", "url", "width", "height", "source_dataset", "source_id", "quality_ok",
                  "quality_reason", "blur_variance", "contrast", "depth_source", "point_map", "ingested_at"]
        read_only_fields = fields

    point_map = serializers.SerializerMethodField(help_text="Whether Stage 3 gets a point cloud, and from where.")

    def get_url(self, image) -> str:
        return image.file.url

    def get_point_map(self, image) -> str:
        from engine.intake import point_maps

        if image.point_cloud:
            return image.depth_source or "upload"
        found = point_maps.estimator()
        return f"queued:{found[0]}" if found else "none: no monocular depth estimator is registered"


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


class StrokeSerializer(serializers.Serializer):
    positive = strict.BooleanField(help_text="true: paint into the mask; false: erase from it.")
    radius = strict.FloatField(min_value=0.5, max_value=500, help_text="Brush radius in image pixels.")
    path = serializers.ListField(child=serializers.ListField(child=strict.FloatField(), min_length=2, max_length=2),
                                 min_length=1, max_length=2000, help_text="[[x, y], ...] in pixels.")


class SegmentSerializer(serializers.Serializer):
    points = serializers.ListField(
        child=serializers.ListField(child=strict.FloatField(), min_length=3, max_length=3),
        required=False, default=list, max_length=64,
        help_text="[[x, y, 1 for positive / 0 for negative], ...] in pixels, in the order clicked.",
    )
    box = serializers.ListField(child=strict.FloatField(), min_length=4, max_length=4, required=False,
                                allow_null=True, default=None, help_text="[x0, y0, x1, y1] around the object, in pixels.")
    strokes = StrokeSerializer(many=True, required=False, default=list,
                               help_text="Brush strokes painted over the result, in order (at most 200).")

    def validate_strokes(self, strokes):
        if len(strokes) > 200:
            raise serializers.ValidationError("At most 200 strokes; accept the object and start another.")
        return strokes

    def validate(self, data):
        if not data["points"] and data["box"] is None and not data["strokes"]:
            raise serializers.ValidationError("Give clicks, a box or brush strokes.")
        return data


class FlagImageSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(choices=sorted(FLAG_REASONS))
    note = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    seconds = strict.FloatField(min_value=0, max_value=24 * 3600, required=False, default=0.0)


class ReviewObjectSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=["confirm", "reject"])
    mask = MaskRLESerializer(required=False, help_text="A fixed mask (confirm only); omit to keep the imported one.")
    category = serializers.CharField(max_length=64, required=False, help_text="A fixed category (confirm only).")
    description = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    confirm_multi_region = serializers.BooleanField(required=False, default=False)
    seconds = strict.FloatField(min_value=0, max_value=24 * 3600, required=False, default=0.0)


class ImportSerializer(serializers.Serializer):
    file = serializers.FileField(required=False, help_text="A COCO instance-annotation JSON file (multipart).")
    coco = serializers.JSONField(required=False, help_text="The COCO file's content (a JSON body).")
    dataset = serializers.CharField(max_length=100, required=False, default="",
                                    help_text="Name recorded on each proposal (default: the file's info.description).")
    category_map = serializers.JSONField(required=False, default=dict,
                                         help_text="{COCO category name: taxonomy slug} for names the synonyms miss.")
    skip_unmapped = serializers.BooleanField(required=False, default=False,
                                             help_text="Leave out (and count) annotations of unmapped categories.")
    dry_run = serializers.BooleanField(required=False, default=False, help_text="Check and report; write nothing.")

    def validate_category_map(self, value):
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise serializers.ValidationError("Give an object {COCO category name: taxonomy slug}.")
        return value

    def validate(self, attrs):
        if bool(attrs.get("file")) == (attrs.get("coco") is not None):
            raise serializers.ValidationError("Send the annotations as a multipart `file` or as JSON `coco`, one of them.")
        return attrs
