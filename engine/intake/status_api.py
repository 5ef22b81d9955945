"""Where objects are now: what the Stage 1 page shows of the objects it sent to candidate generation."""

import re

from django.db.models import Count
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from engine.core.errors import EngineError
from engine.core.permissions import IsAnnotator
from engine.core.roles import ENGINEER, has_role
from engine.intake.models import ObjectInstance

MAX_IDS = 100
ID = r" *[0-9]{1,18} *"  # an object id (ASCII digits, below 2^63)
IDS_PATTERN = rf"^{ID}(,{ID}){{0,{MAX_IDS - 1}}}$"


def parse_ids(raw):
    """Return the object ids of ?ids=1,2,3, or raise EngineError naming the parameter."""
    parts = [p for p in (raw or "").split(",") if p.strip()]
    if not parts or not all(re.fullmatch(ID, p) for p in parts):
        raise EngineError("ids must be object ids separated by commas, e.g. ?ids=12,13.", fields={"ids": ["not ids"]})
    if len(parts) > MAX_IDS:
        raise EngineError(f"Ask for at most {MAX_IDS} objects at a time, not {len(parts)}.", fields={"ids": ["too many"]})
    return sorted({int(p) for p in parts})


class ObjectStatusView(APIView):
    """The status of objects you selected (an engineer: of any): generating, in Stage 2, with the artists, …"""

    permission_classes = [IsAnnotator]

    @extend_schema(parameters=[OpenApiParameter("ids", str, required=True, pattern=IDS_PATTERN,
                                                description="Object ids, comma-separated (at most 100).")],
                   responses=inline_serializer("ObjectStatus", many=True, fields={
                       "id": serializers.IntegerField(), "category": serializers.CharField(),
                       "status": serializers.CharField(), "label": serializers.CharField(),
                       "candidates": serializers.IntegerField()}))
    def get(self, request):
        rows = ObjectInstance.objects.filter(pk__in=parse_ids(request.query_params.get("ids")))
        if not has_role(request.user, ENGINEER):
            rows = rows.filter(selected_by=request.user)
        rows = rows.annotate(candidates=Count("candidate_sets__candidates")).order_by("id")
        return Response([{"id": o.pk, "category": o.category, "status": o.status, "label": o.get_status_display(),
                          "candidates": o.candidates} for o in rows])
