"""Where objects are now: what the Stage 1 page shows of the objects it sent to candidate generation."""

from django.db.models import Count
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from engine.core.errors import EngineError
from engine.core.permissions import IsAnnotator
from engine.core.roles import ENGINEER, has_role
from engine.intake.models import ObjectInstance

MAX_IDS = 100


def parse_ids(raw):
    """Return the object ids of ?ids=1,2,3, or raise EngineError naming the parameter."""
    parts = [p for p in (raw or "").split(",") if p.strip()]
    if not parts or not all(p.strip().isdigit() for p in parts):
        raise EngineError("ids must be object ids separated by commas, e.g. ?ids=12,13.", fields={"ids": ["not ids"]})
    if len(parts) > MAX_IDS:
        raise EngineError(f"Ask for at most {MAX_IDS} objects at a time, not {len(parts)}.", fields={"ids": ["too many"]})
    return sorted({int(p) for p in parts})


class ObjectStatusView(APIView):
    """The status of objects you selected (an engineer: of any): generating, in Stage 2, with the artists, …"""

    permission_classes = [IsAnnotator]

    @extend_schema(parameters=[OpenApiParameter("ids", str, description="Object ids, comma-separated (at most 100).")],
                   responses=OpenApiTypes.OBJECT)
    def get(self, request):
        rows = ObjectInstance.objects.filter(pk__in=parse_ids(request.query_params.get("ids")))
        if not has_role(request.user, ENGINEER):
            rows = rows.filter(selected_by=request.user)
        rows = rows.annotate(candidates=Count("candidate_sets__candidates")).order_by("id")
        return Response([{"id": o.pk, "category": o.category, "status": o.status, "label": o.get_status_display(),
                          "candidates": o.candidates} for o in rows])
