"""The OpenAPI schema tells every answer an endpoint gives, its errors included.

`AutoSchema` (REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]) adds to each operation the error answers
that follow from how the view is built, each with the `Error` body of engine/core/errors.py:

- 400 when the operation reads a body or query parameters (a field that fails validation);
- 403 when the view needs a signed-in user (DRF answers 403, not 401, to a request without
  credentials, since session authentication comes first) or a role;
- 404 when the path names an object (`{id}`).

An endpoint that answers more (409 for a lease or a state conflict, 422 for a reused
Idempotency-Key) lists those with `errors(...)` in its `extend_schema(responses=...)`.
The schema-fuzz test (tests/engine/core/test_schema_fuzz.py) fails on any answer the schema does not list.
"""

import copy

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import OpenApiResponse
from rest_framework.permissions import AllowAny
from rest_framework.settings import api_settings

from engine.core.errors import ErrorCode

ERROR_SCHEMA = {
    "type": "object",
    "description": "Every error answer of the API (engine/core/errors.py).",
    "properties": {
        "code": {"type": "string", "enum": [code.value for code in ErrorCode],
                 "description": "A stable code to act on."},
        "detail": {"type": "string", "description": "What went wrong and how to fix it."},
        "fields": {"type": "object", "additionalProperties": {},
                   "description": "Validation errors: the reasons, by field (only when fields are at fault)."},
        "request_id": {"type": "string", "description": "The X-Request-ID of the request (500 answers)."},
    },
    "required": ["code", "detail"],
}

_DESCRIPTIONS = {
    400: "The request is invalid: `fields` names what to fix.",
    403: "Not signed in, or signed in without the role this needs.",
    404: "No such object.",
    409: "The request conflicts with the object's state (a lease not held or expired, a task closed, a run "
         "already going).",
    413: "The upload is over the size limit.",
    422: "The Idempotency-Key was used before with another request.",
}


class _ErrorBody:
    """A marker for `errors()`: replaced by a reference to the `Error` component when the schema is built."""


def errors(*statuses):
    """{status: Error response} to merge into `extend_schema(responses=...)`, for the statuses a view adds."""
    return {status: OpenApiResponse(_ErrorBody, description=_DESCRIPTIONS.get(status, "")) for status in statuses}


class AutoSchema(SpectacularAutoSchema):
    def _error_component(self):
        # A copy: drf-spectacular's enum hook moves `code`'s enum into a CodeEnum component in place, so a
        # shared dict came out of the first schema with a $ref, and every later schema's CodeEnum was missing.
        component = ResolvedComponent(name="Error", type=ResolvedComponent.SCHEMA, object="Error",
                                      schema=copy.deepcopy(ERROR_SCHEMA))
        self.registry.register_on_missing(component)
        return component

    def _error_response(self, description):
        return {"description": description,
                "content": {"application/json": {"schema": self._error_component().ref}}}

    def _get_response_for_code(self, serializer, status_code, media_types=None, direction="response"):
        if isinstance(serializer, OpenApiResponse) and serializer.response is _ErrorBody:
            return self._error_response(serializer.description)
        return super()._get_response_for_code(serializer, status_code, media_types, direction)

    def map_parsers(self):
        # The JSON endpoints also parse forms (DRF's default parsers: the browsable API, old clients), but a
        # form cannot say null or a list of objects: the schema offers JSON, and forms where a view asks for them.
        if list(self.view.parser_classes) == list(api_settings.DEFAULT_PARSER_CLASSES):
            return ["application/json"]
        return super().map_parsers()

    def _implied_errors(self):
        statuses = set()
        method = self.method.upper()
        if method in {"POST", "PUT", "PATCH"} or any(
                p.get("in") == "query" for p in self._get_parameters() if isinstance(p, dict)):
            statuses.add(400)
        if any(not isinstance(p, AllowAny) for p in self.view.get_permissions()):
            statuses.add(403)
        if "{" in self.path:
            statuses.add(404)
        return statuses

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for status in sorted(self._implied_errors()):
            responses.setdefault(str(status), self._error_response(_DESCRIPTIONS[status]))
        for status, response in responses.items():
            if status.isdigit() and int(status) >= 400 and not response.get("description"):
                response["description"] = _DESCRIPTIONS.get(int(status), "")
        return dict(sorted(responses.items()))
