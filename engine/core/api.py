"""Who am I, projects and iterations."""

from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.permissions import SAFE_METHODS, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from engine.core.models import Iteration, Project
from engine.core.permissions import IsEngineer
from engine.core.roles import roles_of
from engine.core.serializers import IterationSerializer, ProjectSerializer


class EngineerWrites(IsAuthenticated):
    """Anyone signed in may read; only engineers may write."""

    def has_permission(self, request, view):
        if request.method in SAFE_METHODS:
            return super().has_permission(request, view)
        return IsEngineer().has_permission(request, view)


class MeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    roles = serializers.ListField(child=serializers.CharField())


class MeView(APIView):
    """The signed-in user and their roles."""

    @extend_schema(responses=MeSerializer)
    def get(self, request):
        return Response({"id": request.user.pk, "username": request.user.username,
                         "roles": sorted(roles_of(request.user))})


class ProjectList(generics.ListCreateAPIView):
    permission_classes = [EngineerWrites]
    serializer_class = ProjectSerializer
    queryset = Project.objects.order_by("id")

    def perform_create(self, serializer):
        serializer.save(created_by=self.request.user)


class ProjectDetail(generics.RetrieveUpdateAPIView):
    permission_classes = [EngineerWrites]
    serializer_class = ProjectSerializer
    queryset = Project.objects.all()


class IterationList(generics.ListCreateAPIView):
    """List iterations, or open the next one (closing the current) with its α_k."""

    permission_classes = [EngineerWrites]
    serializer_class = IterationSerializer
    queryset = Iteration.objects.select_related("project").order_by("project_id", "number")

    def perform_create(self, serializer):
        project = serializer.validated_data["project"]
        with transaction.atomic():
            Project.objects.select_for_update().get(pk=project.pk)
            project.iterations.filter(closed_at__isnull=True).update(closed_at=timezone.now())
            number = (project.iterations.aggregate(m=Max("number"))["m"] or 0) + 1
            serializer.save(number=number)
