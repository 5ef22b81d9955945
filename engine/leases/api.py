"""Claim, fetch, release, extend and submit tasks of any stage."""

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from engine.core.errors import EngineError, ErrorCode, LeaseError
from engine.core.idempotency import idempotency_key
from engine.core.models import Project
from engine.core.roles import has_role
from engine.core.schema import errors
from engine.leases import registry
from engine.leases import services as leases
from engine.leases.serializers import ClaimSerializer, ReleaseSerializer


def check_stage_role(user, stage):
    """Raise 403 unless the user's role works on this stage."""
    spec = registry.get(stage)
    if not has_role(user, spec.role):
        raise EngineError(f"{spec.label} needs the {spec.role} role.", code=ErrorCode.PERMISSION_DENIED,
                          status_code=403)


def task_body(task, request):
    """Return the JSON of a held task: lease, stage and the stage's payload."""
    seconds_left = max(0.0, (task.lease_expires_at - timezone.now()).total_seconds()) if task.lease_expires_at else 0.0
    return {
        "id": task.pk, "stage": task.stage, "status": task.status, "project": task.project_id,
        "lease_expires_at": task.lease_expires_at.isoformat() if task.lease_expires_at else None,
        "lease_seconds_left": round(seconds_left, 1),
        "payload": registry.get(task.stage).payload(task, request),
    }


def first_answer(pk, user, key, error):
    """Return the stored answer of a same-key submit that closed the task meanwhile; else raise `error`.

    A client that retries on a timeout sends its repeat while the first submit is still being
    applied: the repeat found no earlier answer, waited on the task's row lock, and then found
    the task closed. It gets the first submit's answer, as any later repeat would.
    """
    if key and error.code == ErrorCode.TASK_CLOSED:
        _, earlier = leases.replay(pk, user, key)
        if earlier is not None:
            return earlier
    raise error


class ClaimView(APIView):
    """Lease the next task of a stage (or return the one you hold): 200 with the task, 204 when none is free."""

    @extend_schema(request=ClaimSerializer, responses={200: OpenApiTypes.OBJECT, 204: None, **errors(404)})
    def post(self, request):
        params = ClaimSerializer.parse(request.data)
        stage = params["stage"]
        check_stage_role(request.user, stage)
        project_id = params["project"]
        # A task you already hold comes back first (a reload, a second tab): no one hoards a queue.
        filters = {name: params[name] for name in registry.get(stage).claim_filters}
        task = leases.serve(request.user, project_id, stage, **filters)
        if task is None:
            if not Project.objects.filter(pk=project_id).exists():
                raise EngineError(f"Project {project_id} does not exist.", code=ErrorCode.NOT_FOUND, status_code=404,
                                  fields={"project": ["unknown project"]})
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(task_body(task, request))


class TaskView(APIView):
    """Fetch a task you hold."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT, **errors(409)})
    def get(self, request, pk):
        task = leases.hold(pk, request.user, for_update=False)
        return Response(task_body(task, request))


class ReleaseView(APIView):
    """Give a task back to the pool; {"skip": true} also keeps it from coming back to you (others get it)."""

    @extend_schema(request=ReleaseSerializer, responses={200: OpenApiTypes.OBJECT, **errors(409)})
    def post(self, request, pk):
        skip = ReleaseSerializer.parse(request.data)["skip"]
        leases.release(pk, request.user, skip=skip)
        return Response({"task": pk, "status": "open", "skipped": skip})


class ExtendView(APIView):
    """Renew the lease on a task you hold."""

    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT, **errors(409)})
    def post(self, request, pk):
        task = leases.extend(pk, request.user)
        return Response({"task": pk, "lease_expires_at": task.lease_expires_at.isoformat()})


class SubmitView(APIView):
    """Submit the result of a task; a repeat with the same Idempotency-Key returns the first answer."""

    @extend_schema(
        request=OpenApiTypes.OBJECT, responses={200: OpenApiTypes.OBJECT, **errors(409, 422)},
        description="Body by stage: select {seconds}; rank {level or rating, failure_category, seconds}; "
        "artist {mesh, seconds}; align {rotation, translation, scale, seconds}.",
    )
    def post(self, request, pk):
        key = idempotency_key(request)
        stage, earlier = leases.replay(pk, request.user, key)
        if earlier is not None:
            return Response(earlier)
        if stage is None:
            raise EngineError(f"Task {pk} does not exist.", code=ErrorCode.NOT_FOUND, status_code=404)
        check_stage_role(request.user, stage)
        try:
            return Response(registry.get(stage).submit(request, pk, key))
        except LeaseError as exc:
            return Response(first_answer(pk, request.user, key, exc))
