"""Stage 2 endpoints: the candidates in blind random order, answers, and the rating."""

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from engine.artists.models import REASONS_BELOW_BAR, FailureCategory
from engine.core.permissions import IsAnnotator
from engine.core.schema import errors
from engine.intake.api import image_json, object_json
from engine.ranking import services, tournament
from engine.ranking.rubric import LEVELS
from engine.ranking.serializers import CompareSerializer, RateSerializer


def state_json(state):
    return {"left": state.left, "right": state.right, "position": state.position, "shown": state.shown,
            "total": state.total, "done": state.done, "winner": state.winner}


def rank_payload(task, request):
    refusal = services.second_ranking(task, request.user)
    if refusal is not None:
        # A copy of an object this annotator already ranked can be neither compared nor rated: say so
        # with the answer those get, and open no session for it (a GET of the task writes nothing).
        return {"image": image_json(task.image), "object": object_json(task.object),
                "refused": {"code": refusal.code.value, "detail": str(refusal.detail)}}
    session = services.session_for(task, request.user)
    urls = dict((c.pk, c.mesh.url) for c in task.candidate_set.candidates.all())
    # Blind comparison: ids and meshes only, in the server's random order; never generator names.
    return {
        "image": image_json(task.image), "object": object_json(task.object),
        "candidates": [{"id": cid, "mesh_url": urls[cid]} for cid in session.order],
        "state": state_json(services.state_of(session)),
        # Which side an Equal answer keeps at each comparison: drawn when the session opened, so the
        # page swaps at once on Equal too; the server applies the same draw and records it.
        "equal_keeps": [tournament.tie_break_side(session.seed, i) for i in range(max(0, len(session.order) - 1))],
        "alpha": task.candidate_set.iteration.project.alpha,  # the routing bar, not the iteration's SFT bar α_k
        "rubric": [{"level": lv, "rating": r, "text": text} for lv, r, text in LEVELS],
        "failure_categories": [{"value": v, "label": label} for v, label in REASONS_BELOW_BAR],
        # "None of these is this object": its own answer, at rubric level 0, routed as its own failure category.
        "no_match": {"failure_category": FailureCategory.NO_MATCH.value, "level": 0, "rating": 0.0,
                     "label": FailureCategory.NO_MATCH.label},
    }


def submit_rank(request, pk, key):
    data = RateSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    v = data.validated_data
    return services.rate(pk, request.user, v["rating"], v["rubric"], v["failure_category"], v["seconds"], key)


class CompareView(APIView):
    """Answer comparison `position`: left, right or equal."""

    permission_classes = [IsAnnotator]

    @extend_schema(request=CompareSerializer, responses={200: dict, **errors(409)})
    def post(self, request, pk):
        data = CompareSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        session, state = services.compare(pk, request.user, v["position"], v["answer"], v["seconds"])
        last = session.comparisons.order_by("-position").first()
        return Response({"state": state_json(state),
                         "kept": last.kept_id if last else None, "tie_break": last.tie_break if last else False})
