"""The API matches its OpenAPI schema: a schemathesis run with every check, through the WSGI app, signed in with every role.

Bounded: a few examples per operation (SCHEMA_FUZZ_EXAMPLES, default 5) in the examples, coverage
and fuzzing phases, with a fixed seed so a failure repeats. Its bar is no 5xx, no answer the
schema does not list, no body that breaks its schema, schema-valid requests accepted and
schema-violating ones refused (schemathesis's own lists of the statuses each means, less 5xx).
"""

import os

import pytest
import schemathesis
from rest_framework.authtoken.models import Token
from schemathesis.config import SchemathesisConfig

from engine.core.models import Iteration
from engine.core.roles import ANNOTATOR, ARTIST, ENGINEER
from engine.wsgi import application
from tests.engine.conftest import make_user

EXAMPLES = int(os.environ.get("SCHEMA_FUZZ_EXAMPLES", "5"))


# The fuzz user's token, known before the database is: the schema (and its auth) is loaded at collection.
TOKEN = "f" * 40


def fuzz_config():
    return SchemathesisConfig.from_dict({
        "seed": 19,
        "cache": {"enabled": False},  # nothing written beside the repository
        "suppress-health-check": ["all"],
        "generation": {"max-examples": EXAMPLES, "no-shrink": True, "database": "none"},
        "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True}, "fuzzing": {"enabled": True},
                   "stateful": {"enabled": False}},
        # The token's scheme, so the auth checks know the credentials and can take them away.
        "auth": {"openapi": {"tokenAuth": {"api_key": f"Token {TOKEN}"}}},
        "checks": {
            "enabled": True,
            # Lacking the state a valid body refers to (a held lease, a running flywheel) is a 409, not a 400:
            # schemathesis's defaults, without 5xx.
            "positive_data_acceptance": {"expected-statuses": ["2xx", "401", "403", "404", "409"]},
            "not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx"]},
        },
        "operations": [
            # Which user names and passwords exist is no part of a schema: wrong ones are a 400 there.
            {"include-path": "/api/auth/token/", "checks": {"positive_data_acceptance": {"enabled": False}}},
            # A body that names an object (a project, an iteration) or a server path that does not exist, or
            # flags an image 'other' without the note its description asks for: 400 naming the field.
            *({"include-path": path, "include-method": "POST",
               "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "400", "403", "404", "409"]}}}
              for path in ("/api/iterations/", "/api/checkpoints/", "/api/tasks/{id}/flag/")),
        ],
    })


@pytest.fixture
def api_schema(request, transactional_db, project, image, obj, settings):
    """The served schema, for a user with every role (token TOKEN), over a project with an image and an object.

    One test runs every operation (as subtests), so the tables are emptied once, not once per operation.
    """
    settings.ENGINE = {**settings.ENGINE, "TOKEN_CACHE_SECONDS": 0}
    user = make_user("fuzz", ANNOTATOR, ARTIST, ENGINEER)
    Iteration.objects.get_or_create(project=project, number=1, defaults={"alpha": 0.5})
    Token.objects.create(user=user, key=TOKEN)
    # schemathesis 4's lazy schemas name each subtest through Node._nodeid, which pytest 9 no longer sets.
    request.node._nodeid = request.node.nodeid
    return schemathesis.openapi.from_wsgi("/api/schema/", application, config=fuzz_config())


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)  # each request in its own transaction, as served: a failed one spoils none
@schema.parametrize()
def test_the_api_matches_its_schema(case):
    case.call_and_validate()
