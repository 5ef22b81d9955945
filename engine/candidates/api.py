"""The model suite of this deployment, for engineers choosing a project's generators."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from engine.candidates.generation import suite
from engine.core.permissions import IsEngineer


class GeneratorSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="What a project's `generators` lists.")
    kind = serializers.CharField()
    version = serializers.CharField()
    queue = serializers.CharField(help_text="The Celery queue its jobs run on.")
    available = serializers.BooleanField()
    reason = serializers.CharField(allow_blank=True, help_text="Why it cannot run here; empty when it can.")


class GeneratorsSerializer(serializers.Serializer):
    generators = GeneratorSerializer(many=True)
    note = serializers.CharField()


class GeneratorsView(APIView):
    """The model suite of this deployment: each generator's name (what a project's `generators` lists), kind,
    version, queue, and whether it can run here, with the reason when it cannot."""

    permission_classes = [IsEngineer]

    @extend_schema(responses=GeneratorsSerializer)
    def get(self, request):
        rows = []
        for name, generator in suite().items():
            availability = generator.availability()
            rows.append({"name": name, "kind": generator.kind, "version": generator.version, "queue": generator.queue,
                         "available": availability.ok, "reason": availability.reason})
        return Response({"generators": rows,
                         "note": '"flow_model" in a project\'s generators picks every deployed checkpoint of the flow model.'})
