"""Checkpoints, promotion and exports."""

import os
from pathlib import Path

from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from engine.core.errors import EngineError
from engine.core.models import Iteration
from engine.core.permissions import IsEngineer
from engine.flywheel.deploy import promote
from engine.flywheel.models import ModelCheckpoint


class CheckpointSerializer(serializers.ModelSerializer):
    class Meta:
        model = ModelCheckpoint
        fields = ["id", "name", "path", "stage", "parent", "sha256", "config", "metrics", "status", "iteration",
                  "created_at", "promoted_at"]
        read_only_fields = ["id", "status", "created_at", "promoted_at"]

    def validate_path(self, value):
        if not (Path(value) / "manifest.json").is_file():
            raise serializers.ValidationError(f"{value} is not a checkpoint directory (no manifest.json).")
        return value


class CheckpointList(generics.ListCreateAPIView):
    permission_classes = [IsEngineer]
    serializer_class = CheckpointSerializer
    queryset = ModelCheckpoint.objects.order_by("id")


class PromoteView(APIView):
    """Promote a checkpoint into the model suite (the engine redeploys it)."""

    permission_classes = [IsEngineer]

    @extend_schema(request=None, responses=CheckpointSerializer)
    def post(self, request, pk):
        checkpoint = promote(get_object_or_404(ModelCheckpoint, pk=pk))
        return Response(CheckpointSerializer(checkpoint).data)


class ExportRequest(serializers.Serializer):
    name = serializers.RegexField(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$", required=False,
                                  help_text="Folder name under EXPORT_ROOT (no path separators).")


class ExportView(APIView):
    """Export an iteration to EXPORT_ROOT/<name> (runs on the Celery `cpu` queue)."""

    permission_classes = [IsEngineer]

    @extend_schema(request=ExportRequest, responses={202: OpenApiTypes.OBJECT})
    def post(self, request, pk):
        from engine.flywheel.tasks import export_iteration_task

        iteration = get_object_or_404(Iteration, pk=pk)
        data = ExportRequest(data=request.data)
        data.is_valid(raise_exception=True)
        name = data.validated_data.get("name") or f"{iteration.project.name}-it{iteration.number}-{os.urandom(3).hex()}"
        out = Path(settings.EXPORT_ROOT) / name
        if out.exists():
            raise EngineError(f"{out} already exists; choose another name.", fields={"name": ["exists"]})
        result = export_iteration_task.delay(iteration.pk, str(out))
        return Response({"iteration": iteration.pk, "out": str(out), "job": result.id}, status=202)
