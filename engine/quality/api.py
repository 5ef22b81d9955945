"""Quality-control endpoints for engineers: the figures, the review list and its decisions, gold answers."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from engine.core.errors import EngineError
from engine.core.models import Project
from engine.core.permissions import IsEngineer
from engine.leases.models import Task
from engine.quality import figures, services
from engine.quality.models import FlagStatus, GoldStandard
from engine.quality.serializers import DecisionSerializer

STATUSES = [*FlagStatus.values, "all"]


def gold_json(gold):
    return {"id": gold.pk, "stage": gold.stage, "object": gold.object_id, "candidate_set": gold.candidate_set_id,
            "answer": gold.answer, "source": gold.source, "origin_task": gold.origin_task_id, "active": gold.active,
            "served": gold.copies.count(), "created_at": gold.created_at}


class QualityView(APIView):
    """Per-annotator accuracy on gold, agreement on overlap copies and review flags (people only)."""

    permission_classes = [IsEngineer]

    @extend_schema(responses={200: dict})
    def get(self, request, pk):
        return Response(figures.report(get_object_or_404(Project, pk=pk)))


class ReviewListView(APIView):
    """Submits flagged as faster than a person can work, for an engineer to accept or reject."""

    permission_classes = [IsEngineer]

    @extend_schema(parameters=[OpenApiParameter("status", str, enum=STATUSES, description="default: open")],
                   responses={200: dict})
    def get(self, request, pk):
        project = get_object_or_404(Project, pk=pk)
        status = request.query_params.get("status", FlagStatus.OPEN)
        if status not in STATUSES:
            raise EngineError(f"Unknown status {status!r}; use one of {', '.join(STATUSES)}.",
                              fields={"status": ["unknown"]})
        return Response({"project": project.pk, "status": status, "flags": figures.review_list(project, status)})


class ReviewDecisionView(APIView):
    """Accept (the work counts) or reject (it is undone and offered again) a flagged submit."""

    permission_classes = [IsEngineer]

    @extend_schema(request=DecisionSerializer, responses={200: dict})
    def post(self, request, pk):
        data = DecisionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        flag = services.decide(pk, data.validated_data["decision"] == "accept", request.user,
                               data.validated_data["note"])
        return Response(figures.flag_json(flag))


class GoldMarkView(APIView):
    """Make a completed Stage 2 or Stage 3 task's answer a gold answer of its project."""

    permission_classes = [IsEngineer]

    @extend_schema(request=None, responses={201: dict})
    def post(self, request, pk):
        task = get_object_or_404(Task, pk=pk)
        gold = services.mark_gold(task, request.user)
        return Response(gold_json(gold), status=201)


class GoldListView(APIView):
    """The project's gold answers and how often each was served."""

    permission_classes = [IsEngineer]

    @extend_schema(responses={200: dict})
    def get(self, request, pk):
        project = get_object_or_404(Project, pk=pk)
        golds = GoldStandard.objects.filter(project=project).order_by("id")
        return Response({"project": project.pk, "gold": [gold_json(g) for g in golds]})


class GoldDetailView(APIView):
    """Stop (or resume) serving a gold answer: {"active": false}."""

    permission_classes = [IsEngineer]

    @extend_schema(request=dict, responses={200: dict})
    def patch(self, request, pk):
        gold = get_object_or_404(GoldStandard, pk=pk)
        active = request.data.get("active") if isinstance(request.data, dict) else None
        if not isinstance(active, bool):
            raise EngineError("Send {\"active\": true} or {\"active\": false}.", fields={"active": ["a boolean"]})
        gold.active = active
        gold.save(update_fields=["active"])
        return Response(gold_json(gold))
