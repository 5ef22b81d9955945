"""Stage 1 and ingest endpoints."""

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from engine.core.errors import EngineError, LeaseError
from engine.core.idempotency import Once, idempotency_key
from engine.core.models import Project
from engine.core.permissions import IsAnnotator, IsEngineer
from engine.core.schema import errors
from engine.intake import importing, segmenters, services
from engine.intake.models import Image, ObjectInstance
from engine.intake.rendering import mask_png
from engine.intake.serializers import (
    FlagImageSerializer,
    ImageSerializer,
    ImportSerializer,
    IngestSerializer,
    ObjectCreateSerializer,
    ReviewObjectSerializer,
    SegmentSerializer,
)
from engine.intake.taxonomy import load_taxonomy
from engine.leases import services as leases
from engine.leases.api import first_answer
from engine.leases.serializers import SecondsSerializer


def object_json(obj):
    return {"id": obj.pk, "category": obj.category, "description": obj.description, "bbox": obj.bbox,
            "area": obj.area, "status": obj.status, "mask": obj.mask_rle, "mask_url": f"/api/objects/{obj.pk}/mask.png",
            "source": obj.source, "edited": obj.edited}


def image_json(image):
    return {"id": image.pk, "url": image.file.url, "width": image.width, "height": image.height}


def select_payload(task, request):
    image = task.image
    objects = [object_json(o) for o in image.instances.all()]
    return {"image": image_json(image), "objects": objects, "object_count": len(objects),
            "taxonomy": task.project.taxonomy}


def submit_select(request, pk, key):
    seconds = SecondsSerializer.parse(request.data)["seconds"]
    return services.finish_image(pk, request.user, seconds=seconds, key=key)


class FlagImageView(APIView):
    """Flag the image of a held Stage 1 task as unusable (blurry, no objects, duplicate, …); closes the task."""

    permission_classes = [IsAnnotator]

    @extend_schema(request=FlagImageSerializer, responses={200: OpenApiTypes.OBJECT, **errors(409)})
    def post(self, request, pk):
        data = FlagImageSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        key = idempotency_key(request)
        _, earlier = leases.replay(pk, request.user, key)
        if earlier is not None:
            return Response(earlier)
        try:
            return Response(services.flag_image(pk, request.user, v["reason"], v["note"], v["seconds"], key))
        except LeaseError as exc:
            return Response(first_answer(pk, request.user, key, exc))


class ObjectCreateView(APIView):
    """Add an object (mask, category, description) to the image of a held Stage 1 task.

    A repeat with the same Idempotency-Key gets the first answer and adds nothing.
    """

    permission_classes = [IsAnnotator]

    @extend_schema(request=ObjectCreateSerializer, responses={201: OpenApiTypes.OBJECT, **errors(409, 422)})
    def post(self, request, pk):
        once = Once(request)
        earlier = once.replay()
        if earlier is not None:
            return earlier
        data = ObjectCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data

        def create():
            obj = services.add_object(pk, request.user, v["mask"], v["category"], v["description"],
                                      v["confirm_multi_region"], v["seconds"])
            return Response(object_json(obj), status=status.HTTP_201_CREATED)

        return once.run(create)


class ReviewObjectView(APIView):
    """Confirm, fix (confirm with a new mask, category or description) or reject an imported proposal of a held task."""

    permission_classes = [IsAnnotator]

    @extend_schema(request=ReviewObjectSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request, pk, object_pk):
        data = ReviewObjectSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        obj = services.review_object(pk, object_pk, request.user, v["decision"], mask_rle=v.get("mask"),
                                     category=v.get("category"), description=v.get("description"),
                                     confirm_multi_region=v["confirm_multi_region"], seconds=v["seconds"])
        return Response(object_json(obj))


class ImportAnnotationsView(APIView):
    """Import COCO instance annotations as Stage 1 proposals of a project's images (multipart `file`, or JSON `coco`).

    Every problem is checked first and answered at once (400, with the report); nothing is written unless
    every annotation, image and category name is accepted. Importing the same annotations again adds nothing.
    """

    permission_classes = [IsEngineer]

    @extend_schema(request=ImportSerializer, responses={200: OpenApiTypes.OBJECT, 201: OpenApiTypes.OBJECT})
    def post(self, request, pk):
        project = get_object_or_404(Project, pk=pk)
        data = ImportSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        content = v["file"].read() if v.get("file") else v["coco"]
        try:
            report = importing.import_annotations(
                project, content, user=request.user, dataset=v["dataset"], category_map=v["category_map"],
                skip_unmapped=v["skip_unmapped"], dry_run=v["dry_run"])
        except importing.ImportRefused as exc:
            return Response({"code": exc.code.value, "detail": str(exc.detail), "fields": exc.fields,
                             "report": exc.report}, status=status.HTTP_400_BAD_REQUEST)
        return Response(report, status=status.HTTP_201_CREATED if report["imported"] and not v["dry_run"]
                        else status.HTTP_200_OK)


class SegmentView(APIView):
    """Propose a mask for an image from clicks, a box and brush strokes (the configured segmenter).

    The answer carries the mask, its area and share of the image, which segmenter made it, and a
    `warning` when the mask is empty or covers nearly the whole image (such a mask is refused on accept).
    """

    permission_classes = [IsAnnotator]

    @extend_schema(request=SegmentSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request, pk):
        image = get_object_or_404(Image, pk=pk)
        data = SegmentSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        return Response(segmenters.propose(image, v["points"], v["box"], v["strokes"]))


class ObjectMaskView(APIView):
    """The mask of an object as an 8-bit PNG."""

    @extend_schema(responses={(200, "image/png"): OpenApiTypes.BINARY})
    def get(self, request, pk):
        obj = get_object_or_404(ObjectInstance, pk=pk)
        return HttpResponse(mask_png(obj), content_type="image/png")


class CategorySerializer(serializers.Serializer):
    slug = serializers.CharField(help_text="What an object's `category` holds.")
    name = serializers.CharField()
    group = serializers.CharField()
    synonyms = serializers.ListField(child=serializers.CharField(), help_text="Labels that resolve to this category.")


class CategoriesQuery(serializers.Serializer):
    project = serializers.IntegerField(min_value=1, max_value=2**63 - 1, required=False,
                                       help_text="Only the categories of this project's taxonomy.")


class CategoriesView(APIView):
    """The shipped taxonomy, or a project's subset of it (?project=ID)."""

    @extend_schema(
        parameters=[CategoriesQuery],
        responses={200: CategorySerializer(many=True), **errors(404)},
    )
    def get(self, request):
        categories = list(load_taxonomy())
        query = CategoriesQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        project_id = query.validated_data.get("project")
        if project_id is not None:
            allowed = set(get_object_or_404(Project, pk=project_id).taxonomy)
            categories = [c for c in categories if c["slug"] in allowed]
        return Response(categories)


class ProjectImagesView(generics.ListCreateAPIView):
    """List a project's images, or ingest one (multipart `file`)."""

    permission_classes = [IsEngineer]
    serializer_class = ImageSerializer
    parser_classes = [MultiPartParser]

    def get_queryset(self):
        return Image.objects.filter(project_id=self.kwargs["pk"]).order_by("id")

    @extend_schema(request=IngestSerializer, responses={
        201: OpenApiResponse(ImageSerializer, description="The image, ingested."),
        200: OpenApiResponse(ImageSerializer, description="The project already had this image (same content): it.")})
    def post(self, request, pk):
        project = get_object_or_404(Project, pk=pk)
        data = IngestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        upload = v["file"]
        depth = services.parse_depth(v["depth"].read()) if v.get("depth") else None
        if depth is not None and not v.get("intrinsics"):
            raise EngineError("A depth map needs intrinsics (fx, fy, cx, cy).", fields={"intrinsics": ["required"]})
        image, created = services.ingest(
            project, upload.read(), upload.name, source_dataset=v["source_dataset"], source_id=v["source_id"],
            user=request.user, depth=depth, intrinsics=v.get("intrinsics"),
        )
        return Response(ImageSerializer(image).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
