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

from engine.core import fields as strict
from engine.core.errors import EngineError
from engine.core.models import Iteration, Project
from engine.core.permissions import IsEngineer
from engine.core.schema import errors
from engine.core.serializers import JSONObjectField
from engine.flywheel import iteration as flywheel
from engine.flywheel.deploy import DEFAULT_KEEP, promote
from engine.flywheel.export import ExportError
from engine.flywheel.models import FlywheelRun, ModelCheckpoint
from engine.flywheel.serializers import RunRequest, RunSerializer


class CheckpointSerializer(strict.ModelSerializer):
    config = JSONObjectField(required=False, help_text="The trainer config the checkpoint was trained with.")
    metrics = JSONObjectField(required=False, help_text="What is known of its quality, e.g. {\"viou\": 0.31}.")

    class Meta:
        model = ModelCheckpoint
        fields = ["id", "name", "path", "stage", "parent", "sha256", "config", "metrics", "status", "iteration",
                  "project", "created_at", "promoted_at"]
        read_only_fields = ["id", "status", "created_at", "promoted_at"]
        extra_kwargs = {"project": {"help_text": "The project whose flywheel deploys it (default: the iteration's); "
                                                 "none: shared, in every project's suite."}}

    def validate(self, attrs):
        """Refuse a project other than the iteration's (left out, the checkpoint takes the iteration's)."""
        iteration, project = attrs.get("iteration"), attrs.get("project")
        if iteration is not None and project is not None and project != iteration.project:
            raise serializers.ValidationError({"project": [
                f"iteration {iteration.pk} is of project {iteration.project}, not {project}; give its project "
                "or leave project out."]})
        return attrs

    def validate_path(self, value):
        try:
            found = (Path(value) / "manifest.json").is_file()
        except OSError as exc:  # a name too long for the file system, say
            raise serializers.ValidationError(f"{value[:200]} is not a path this server can read: {exc.strerror}.") from None
        if not found:
            raise serializers.ValidationError(f"{value} is not a checkpoint directory (no manifest.json).")
        return value


class CheckpointList(generics.ListCreateAPIView):
    permission_classes = [IsEngineer]
    serializer_class = CheckpointSerializer
    queryset = ModelCheckpoint.objects.order_by("id")


class PromoteView(APIView):
    """Promote a checkpoint into its project's deployment (the engine redeploys it)."""

    permission_classes = [IsEngineer]

    @extend_schema(request=None, responses=CheckpointSerializer)
    def post(self, request, pk):
        checkpoint = get_object_or_404(ModelCheckpoint.objects.select_related("project"), pk=pk)
        project = checkpoint.project  # it retires that project's older checkpoints only (shared: the shared ones)
        promote(checkpoint, keep=project.checkpoints_deployed if project else DEFAULT_KEEP, project=project,
                run=None, reason=f"promoted by {request.user.get_username()}")
        return Response(CheckpointSerializer(checkpoint).data)


class ExportRequest(serializers.Serializer):
    name = serializers.RegexField(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$", required=False,
                                  help_text="Folder name under EXPORT_ROOT (no path separators).")


class ExportView(APIView):
    """Export an iteration to EXPORT_ROOT/<name> (runs on the Celery `cpu` queue)."""

    permission_classes = [IsEngineer]

    @extend_schema(request=ExportRequest, responses={202: OpenApiTypes.OBJECT, **errors(409)})
    def post(self, request, pk):
        from engine.flywheel.tasks import export_iteration_task

        iteration = get_object_or_404(Iteration, pk=pk)
        data = ExportRequest(data=request.data)
        data.is_valid(raise_exception=True)
        name = data.validated_data.get("name") or f"{iteration.project.name}-it{iteration.number}-{os.urandom(3).hex()}"
        out = Path(settings.EXPORT_ROOT) / name
        if out.exists():
            raise EngineError(f"{out} already exists; choose another name.", fields={"name": ["exists"]})
        try:
            result = export_iteration_task.delay(iteration.pk, str(out))
        except ExportError as exc:  # run in this process (no Redis): the job's failure is known now
            raise EngineError(f"The export failed: {exc}", status_code=409) from None
        return Response({"iteration": iteration.pk, "out": str(out), "job": result.id}, status=202)


class FlywheelRunsView(APIView):
    """Start iteration k of the flywheel (202 and the run; it goes on the RQ `trainer` queue), or list the runs."""

    permission_classes = [IsEngineer]

    @extend_schema(responses=RunSerializer(many=True))
    def get(self, request, pk):
        project = get_object_or_404(Project, pk=pk)
        return Response(RunSerializer(project.flywheel_runs.order_by("-id")[:20], many=True).data)

    @extend_schema(request=RunRequest, responses={202: RunSerializer, **errors(409)})
    def post(self, request, pk):
        project = get_object_or_404(Project, pk=pk)
        data = RunRequest(data=request.data)
        data.is_valid(raise_exception=True)
        options = data.validated_data
        try:
            run = flywheel.create_run(project, alpha=options.get("alpha"), preset=options.get("config"),
                                      sft_steps=options.get("sft_steps"), dpo_steps=options.get("dpo_steps"),
                                      simulate=options["simulate"], artist_delay=options["artist_delay"],
                                      user=request.user,
                                      dpo_sft_weight=options.get("dpo_sft_weight", flywheel.DPO_SFT_WEIGHT),
                                      dpo_dpop=options.get("dpo_dpop", flywheel.DPO_DPOP),
                                      category_loss=options["category_loss"], replay=options["replay"],
                                      replay_share=options["replay_share"])
        except flywheel.RunError as exc:
            raise EngineError(str(exc), status_code=409 if exc.field == "project" else 400,
                              fields={exc.field: [str(exc)]} if exc.field else None) from None
        flywheel.enqueue(run)
        run.refresh_from_db()
        return Response(RunSerializer(run).data, status=202)


class FlywheelRunView(generics.RetrieveAPIView):
    """A flywheel run's record, live: step, trainer progress, metrics, decision."""

    permission_classes = [IsEngineer]
    serializer_class = RunSerializer
    queryset = FlywheelRun.objects.select_related("project", "iteration", "next_iteration", "baseline",
                                                  "sft_checkpoint", "checkpoint")
