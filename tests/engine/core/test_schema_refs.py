"""The OpenAPI schema a server gives is whole every time it is asked, not only the first time."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def dangling_refs(schema):
    """Return the $refs of a schema that name no component."""
    components = schema.get("components", {}).get("schemas", {})
    found = []

    def walk(node):
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[-1] not in components:
                found.append(ref)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return sorted(set(found))


def test_every_reference_resolves_in_each_schema_served(engineer):
    client = Client()
    client.force_login(engineer)
    for _ in range(3):  # Swagger UI, then Redoc, then a client: each asks anew in the same process
        schema = client.get("/api/schema/", {"format": "json"}).json()
        assert "Error" in schema["components"]["schemas"]
        assert dangling_refs(schema) == []
