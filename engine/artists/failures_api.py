"""What artist triage did with a project's Stage 2 failures (engineers)."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from engine.artists import triage
from engine.core.models import Project
from engine.core.permissions import IsEngineer


class FailuresView(APIView):
    """Failures, clusters of look-alikes and artist tasks of a project, by outcome and failure category."""

    permission_classes = [IsEngineer]

    @extend_schema(responses={200: dict})
    def get(self, request, pk):
        return Response(triage.summary(get_object_or_404(Project, pk=pk)))
