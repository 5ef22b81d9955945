"""Stage 2.5 endpoints: the case bundle, uploads with validation, submit."""

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from engine.artists import services
from engine.core import fields as strict
from engine.core.errors import EngineError, ErrorCode
from engine.core.idempotency import Once
from engine.core.permissions import IsArtist
from engine.core.schema import errors
from engine.intake.api import image_json, object_json
from engine.leases import services as leases


def mesh_json(mesh):
    return {"id": mesh.pk, "mesh_url": mesh.mesh.url, "format": mesh.format, "triangles": mesh.triangles,
            "vertices": mesh.vertices, "size_bytes": mesh.size_bytes, "submitted": mesh.submitted}


def artist_payload(task, request):
    case = task.artist_case
    best = case.best_candidate
    return {
        "image": image_json(task.image), "object": object_json(task.object),
        "failure_category": case.failure_category, "failure_label": case.get_failure_category_display(),
        "rating": case.rating,
        "best_candidate": {"id": best.pk, "mesh_url": best.mesh.url} if best else None,
        "bundle_url": f"/api/tasks/{task.pk}/bundle/",
        "uploads": [mesh_json(m) for m in case.meshes.filter(uploaded_by=request.user)],
    }


class _ArtistSubmit(serializers.Serializer):
    mesh = serializers.IntegerField(min_value=1, help_text="Id of an upload of yours for this task.")
    seconds = strict.FloatField(min_value=0, required=False, default=0.0)


def submit_artist(request, pk, key):
    data = _ArtistSubmit(data=request.data)
    data.is_valid(raise_exception=True)
    return services.submit(pk, request.user, data.validated_data["mesh"], data.validated_data["seconds"], key)


class _Upload(serializers.Serializer):
    mesh = serializers.FileField(allow_empty_file=True)


class UploadView(APIView):
    """Upload a mesh (GLB, OBJ, PLY or STL; format read from the content) for a held case.

    A repeat with the same Idempotency-Key gets the first answer and stores nothing.
    """

    permission_classes = [IsArtist]
    parser_classes = [MultiPartParser]

    @extend_schema(request=_Upload, responses={201: OpenApiTypes.OBJECT, **errors(409, 422)})
    def post(self, request, pk):
        once = Once(request)
        earlier = once.replay()
        if earlier is not None:
            return earlier
        data = _Upload(data=request.data)
        data.is_valid(raise_exception=True)
        checked = services.check_upload(pk, request.user, data.validated_data["mesh"])  # slow: before the transaction

        def store():
            mesh = services.store_upload(pk, request.user, checked)
            return Response(mesh_json(mesh), status=status.HTTP_201_CREATED)

        return once.run(store)


class BundleView(APIView):
    """Download the image, mask and best candidate of a held case as one zip."""

    permission_classes = [IsArtist]

    @extend_schema(responses={(200, "application/zip"): OpenApiTypes.BINARY, **errors(400, 409)})
    def get(self, request, pk):
        task = leases.hold(pk, request.user, for_update=False)
        if task.stage != "artist":
            raise EngineError(f"Task {pk} is not an artist task.", code=ErrorCode.WRONG_STAGE)
        response = HttpResponse(services.bundle(task), content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="case-{pk}.zip"'
        return response
